/**
 * Issue 26: CLIP image→text and text→image recall@1/@5 on held-out pairs whose captions are unique. Captions name the
 * class and four attributes measured from each image (brightness, size, width, detail; `fashionMnistMeasuredCaptions`,
 * bins from the training images' per-class quantiles); the held-out set is the sample test images, one per distinct
 * (class, attributes) caption. Two arms with the same budget: CLIP trained on measured captions, and CLIP trained on
 * the class-only captions (`fashionMnistPairs`); both are scored on the same unique held-out pairs, against chance
 * (k / N) and the class-only level (a model that knows the class and nothing else).
 *
 *   node --conditions=@ssl/source --import tsx packages/clip/scripts/unique-caption-recall.ts [--epochs 3] [--seeds 0] [--arms measured,class-only]
 *     [--source sample|full] (full: the 60 000 / 10 000 images, e.g. from Debian's dataset-fashion-mnist)
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { Random, createRegistry, gatherBatch, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import type { ImageTextDataset } from '@ssl/core';
import clipPlugin, {
  FASHION_MNIST_PROMPTS,
  attributeThresholds,
  clipModelOf,
  fashionMnistMeasuredCaptions,
  fashionMnistMeasuredPairs,
  fashionMnistPairs,
  heldOutRetrieval,
  uniqueCaptionIndices,
  zeroShotClassifier,
} from '../src/index';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '3' },
    seeds: { type: 'string', default: '0' },
    arms: { type: 'string', default: 'measured,class-only' },
    'batch-size': { type: 'string', default: '100' },
    source: { type: 'string', default: 'sample' },
  },
});

await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
const trainSet = await loadFashionMnist({ split: 'train', source: values.source });
const testSet = await loadFashionMnist({ split: 'test', source: values.source });
const thresholds = attributeThresholds(trainSet);
const described = fashionMnistMeasuredCaptions(testSet, thresholds, new Random(99));
const unique = uniqueCaptionIndices(described.keys);
const heldOut = subset(testSet, unique);
const heldOutCaptions = unique.map((i) => described.captions[i]);
const batch = gatherBatch(
  heldOut,
  Array.from({ length: heldOut.size }, (_, i) => i),
);
console.log(`held out: ${heldOut.size} of ${testSet.size} ${values.source} test images, one per distinct (class, attributes) caption`);
const percent = (value: number) => `${(100 * value).toFixed(1)}%`;

for (const seed of values.seeds!.split(',').map(Number)) {
  for (const arm of values.arms!.split(',')) {
    const pairs: ImageTextDataset =
      arm === 'measured' ? fashionMnistMeasuredPairs(trainSet, seed, thresholds) : fashionMnistPairs(trainSet, seed);
    const started = performance.now();
    const run = await train({
      method: createRegistry().use(clipPlugin()).create('clip:clip'),
      data: pairs,
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64] },
      epochs: Number(values.epochs),
      batchSize: Number(values['batch-size']),
      seed,
    });
    const seconds = (performance.now() - started) / 1000;
    const model = clipModelOf(run.runtime);
    const retrieval = heldOutRetrieval(model, batch.images, heldOutCaptions, heldOut.labels!);
    const classifier = zeroShotClassifier(run.runtime, testSet.classNames ?? [], FASHION_MNIST_PROMPTS);
    const predictions = classifier.predict(batch.images).dataSync();
    classifier.dispose();
    const zeroShot = heldOut.labels!.reduce((sum, label, i) => sum + (predictions[i] === label ? 1 : 0), 0) / heldOut.size;
    console.log(
      `seed ${seed}, ${arm} captions: ${run.steps} steps in ${seconds.toFixed(0)} s; image→text R@1 ${percent(retrieval.recall.imageToText[1])} R@5 ${percent(retrieval.recall.imageToText[5])}, text→image R@1 ${percent(retrieval.recall.textToImage[1])} R@5 ${percent(retrieval.recall.textToImage[5])} (N ${retrieval.pairs}: chance R@1 ${percent(retrieval.chance[1])} R@5 ${percent(retrieval.chance[5])}; class-only R@1 ${percent(retrieval.classOnly[1])} R@5 ${percent(retrieval.classOnly[5])}); zero-shot ${percent(zeroShot)}`,
    );
    run.dispose();
  }
}
tf.dispose([batch.images, batch.labels as tf.Tensor]);
