/**
 * What a method trains in the page, shared with node-speed.ts so the README's page and Node speeds are for the
 * same workload: the plugins, the encoder and the training data built from a slice of the sample.
 */
import { createRegistry, labeledSplit, vitPreset } from '@ssl/core';
import type { EncoderSpec, ImageDataset, TrainData } from '@ssl/core';
import clip, { fashionMnistPairs } from '@ssl/clip';
import contrastive from '@ssl/contrastive';
import masked from '@ssl/masked';
import noncontrastive from '@ssl/noncontrastive';
import pretext from '@ssl/pretext';
import semisup from '@ssl/semisup';

export const registry = createRegistry().use(contrastive()).use(noncontrastive()).use(masked()).use(semisup()).use(pretext()).use(clip());

/**
 * The encoder of the run: the small CNN, or for the masked family (MAE drops patches) the 28×28 ViT with
 * 7×7 patches, as examples/mae-fashion-mnist.
 */
export function encoderSpecFor(methodName: string): EncoderSpec {
  return methodName.startsWith('masked:')
    ? vitPreset('vit28', { seed: 1234, gelu: 'tanh', patchSize: 7, pooling: 'mean' })
    : { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], seed: 1234 };
}

/**
 * The data a method trains on: semi-supervised methods get 10 labels per class of the slice plus the rest of it
 * unlabeled; CLIP gets the slice's images with @ssl/clip's synthetic captions of their classes (seeded); the
 * others the images.
 */
export function trainDataFor(methodName: string, slice: ImageDataset): { data: TrainData; description: string } {
  if (methodName.startsWith('semisup:'))
    return { data: labeledSplit(slice, { perClass: 10, seed: 0 }), description: `${slice.size} images (100 labeled)` };
  if (methodName.startsWith('clip:')) return { data: fashionMnistPairs(slice, 0), description: `${slice.size} captioned images` };
  return { data: slice, description: `${slice.size} images` };
}
