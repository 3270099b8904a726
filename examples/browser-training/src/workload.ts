/**
 * What a method trains in a page, shared by this page, node-speed.ts (so the README's page and Node speeds are
 * for the same workload) and examples/browser-playground: the plugins, the encoder, the bundled sample fetched
 * from the page's origin, and the training data built from a slice of it.
 */
import { createRegistry, fetchIdx, labeledSplit, subset, vitPreset } from '@ssl/core';
import type { EncoderSpec, ImageDataset, Registry, TrainData } from '@ssl/core';
import clip, { fashionMnistPairs } from '@ssl/clip';
import contrastive from '@ssl/contrastive';
import masked from '@ssl/masked';
import noncontrastive from '@ssl/noncontrastive';
import pretext from '@ssl/pretext';
import semisup from '@ssl/semisup';

export const registry: Registry = createRegistry()
  .use(contrastive())
  .use(noncontrastive())
  .use(masked())
  .use(semisup())
  .use(pretext())
  .use(clip());

/**
 * The data kinds a page can feed from the Fashion-MNIST sample alone: images, labeled + unlabeled images, and
 * images with @ssl/clip's synthetic captions. `image-audio` (clip:audio-visual, clip:mix-and-separate) needs
 * sounds, which the page does not ship.
 */
const PAGE_DATA_KINDS = new Set(['unlabeled', 'semi-supervised', 'image-text']);

/** Every registered method that trains on images in a page, by name. */
export function imageMethods(): string[] {
  return registry
    .list()
    .filter((method) => PAGE_DATA_KINDS.has(method.data))
    .map((method) => method.id)
    .sort();
}

/**
 * The encoders a page offers for 28×28 greyscale images: the small CNN 16-32-64 (the default), the 28×28 ViT
 * with 7×7 patches of 4×4 pixels, mean-pooled, as examples/mae-fashion-mnist (the masked family's default), and
 * core's ResNet-18 (its stem adapted to small inputs; a few times slower a step).
 */
export const PAGE_ENCODERS = ['cnn', 'vit28', 'resnet18'] as const;
export type PageEncoder = (typeof PAGE_ENCODERS)[number];

/** The default encoder of a method: the ViT for the masked family (MAE drops patches), else the CNN. */
export function defaultEncoderFor(methodName: string): PageEncoder {
  return methodName.startsWith('masked:') ? 'vit28' : 'cnn';
}

/** The encoder spec of a run, seeded so the page, Node and the random-init control build the same network. */
export function encoderSpecFor(methodName: string, encoder: PageEncoder = defaultEncoderFor(methodName)): EncoderSpec {
  switch (encoder) {
    case 'vit28':
      return vitPreset('vit28', { seed: 1234, gelu: 'tanh', patchSize: 7, pooling: 'mean' });
    case 'resnet18':
      return { kind: 'resnet18', inputShape: [28, 28, 1], seed: 1234 };
    case 'cnn':
      return { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], seed: 1234 };
  }
}

/**
 * The data a method trains on, by its data kind: semi-supervised methods get 10 labels per class of the slice plus the rest of it
 * unlabeled; image-text ones (CLIP) get the slice's images with @ssl/clip's synthetic captions of their classes (seeded); the
 * others the images.
 */
export function trainDataFor(methodName: string, slice: ImageDataset): { data: TrainData; description: string } {
  const kind = registry.list().find((method) => method.id === methodName)?.data;
  if (kind === 'semi-supervised')
    return { data: labeledSplit(slice, { perClass: 10, seed: 0 }), description: `${slice.size} images (100 labeled)` };
  if (kind === 'image-text') return { data: fashionMnistPairs(slice, 0), description: `${slice.size} captioned images` };
  return { data: slice, description: `${slice.size} images` };
}

/** The first `count` images of `dataset`. */
function firstImages(dataset: ImageDataset, count: number): ImageDataset {
  return subset(
    dataset,
    Int32Array.from({ length: Math.min(count, dataset.size) }, (_, i) => i),
  );
}

/**
 * The bundled Fashion-MNIST sample, fetched from `dataUrl` (the page's `data/`, where the build puts the .gz
 * files): the first `trainImages` training images (what the run trains on and the kNN bank) and the first
 * `testImages` test images (held out: the kNN queries and the embedding map).
 */
export async function fetchSample(
  dataUrl: string,
  trainImages: number,
  testImages: number,
): Promise<{ train: ImageDataset; test: ImageDataset }> {
  const [trainSet, testSet] = await Promise.all([
    fetchIdx(`${dataUrl}train-images-idx3-ubyte.gz`, `${dataUrl}train-labels-idx1-ubyte.gz`, { name: 'fashion-mnist-sample train' }),
    fetchIdx(`${dataUrl}t10k-images-idx3-ubyte.gz`, `${dataUrl}t10k-labels-idx1-ubyte.gz`, { name: 'fashion-mnist-sample test' }),
  ]);
  return { train: firstImages(trainSet, trainImages), test: firstImages(testSet, testImages) };
}
