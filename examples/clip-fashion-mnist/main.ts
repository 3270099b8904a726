/**
 * CLIP on Fashion-MNIST: images paired with synthetic captions (fashionMnistPairs), trained with the
 * symmetric contrastive loss; then zero-shot classification of the test set from class-name prompts with
 * template ensembling, and image→text / text→image recall@1/@5 on held-out test pairs.
 *
 *   pnpm --filter @ssl-examples/clip-fashion-mnist start -- --source full --epochs 5
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, gatherBatch, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import clipPlugin, { FASHION_MNIST_PROMPTS, clipModelOf, fashionMnistPairs, retrievalRecall, zeroShotClassifier } from '@ssl/clip';

export interface ClipExperimentOptions {
  source: string;
  epochs: number;
  /** Stop after this many steps (0 = no limit). */
  maxSteps: number;
  batchSize: number;
  seed: number;
  channels: number[];
  /** Held-out test pairs used for retrieval (all test images are used for zero-shot). */
  retrievalPairs: number;
  logEvery: number;
}

export const DEFAULTS: ClipExperimentOptions = {
  source: 'auto',
  epochs: 5,
  maxSteps: 0,
  batchSize: 128,
  seed: 0,
  channels: [32, 64, 128],
  retrievalPairs: 1000,
  logEvery: 50,
};

export interface ClipExperimentResult {
  zeroShotTop1: number;
  singlePromptTop1: number;
  recall: { imageToText: Record<number, number>; textToImage: Record<number, number> };
  steps: number;
  trainSeconds: number;
}

export async function runClipExperiment(partial: Partial<ClipExperimentOptions> = {}): Promise<ClipExperimentResult> {
  const options = { ...DEFAULTS, ...partial };
  const trainSet = await loadFashionMnist({ split: 'train', source: options.source });
  const testSet = await loadFashionMnist({ split: 'test', source: options.source });
  const pairs = fashionMnistPairs(trainSet, options.seed);
  const started = performance.now();
  const result = await train({
    method: createRegistry().use(clipPlugin()).create('clip:clip'),
    data: pairs,
    encoder: { kind: 'cnn', inputShape: trainSet.shape, channels: options.channels },
    epochs: options.epochs,
    ...(options.maxSteps > 0 ? { maxSteps: options.maxSteps } : {}),
    batchSize: options.batchSize,
    seed: options.seed,
    callbacks: [
      {
        name: 'log',
        onStepEnd(record) {
          if (options.logEvery > 0 && (record.step + 1) % options.logEvery === 0) {
            console.log(
              `  step ${record.step + 1} epoch ${record.epoch} loss ${record.loss.toFixed(4)} logit scale ${record.metrics.logitScale?.toFixed(2)} (${record.seconds.toFixed(2)} s/step)`,
            );
          }
        },
      },
    ],
  });
  const trainSeconds = (performance.now() - started) / 1000;
  const model = clipModelOf(result.runtime);
  const classNames = testSet.classNames ?? [];
  const labels = testSet.labels as Int32Array;
  const top1 = (templates: readonly string[]) => {
    const classifier = zeroShotClassifier(model, classNames, templates);
    let correct = 0;
    for (let start = 0; start < testSet.size; start += 1000) {
      const indices = Array.from({ length: Math.min(1000, testSet.size - start) }, (_, i) => start + i);
      const batch = gatherBatch(testSet, indices);
      const predictions = classifier.predict(batch.images);
      const values = predictions.dataSync();
      indices.forEach((index, i) => (correct += values[i] === labels[index] ? 1 : 0));
      tf.dispose([predictions, batch.images, batch.labels as tf.Tensor]);
    }
    classifier.dispose();
    return correct / testSet.size;
  };
  const zeroShotTop1 = top1(FASHION_MNIST_PROMPTS);
  const singlePromptTop1 = top1(['a photo of a {}.']);
  // Retrieval on held-out pairs: test images with freshly drawn captions (another seed than training).
  const heldOut = fashionMnistPairs(
    subset(
      testSet,
      Array.from({ length: Math.min(options.retrievalPairs, testSet.size) }, (_, i) => i),
    ),
    options.seed + 1,
  );
  const batch = gatherBatch(
    heldOut,
    Array.from({ length: heldOut.size }, (_, i) => i),
  );
  const imageEmbeddings = model.embedImages(batch.images);
  const textEmbeddings = model.embedTexts(heldOut.captions);
  const recall = retrievalRecall(imageEmbeddings, textEmbeddings, [1, 5]);
  tf.dispose([imageEmbeddings, textEmbeddings, batch.images, batch.labels as tf.Tensor]);
  const steps = result.steps;
  result.dispose();
  return { zeroShotTop1, singlePromptTop1, recall, steps, trainSeconds };
}

async function main(): Promise<void> {
  // `pnpm start -- --flag` forwards the `--` itself; parseArgs would take everything after it as positional.
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: {
      source: { type: 'string', default: DEFAULTS.source },
      epochs: { type: 'string', default: String(DEFAULTS.epochs) },
      'max-steps': { type: 'string', default: String(DEFAULTS.maxSteps) },
      'batch-size': { type: 'string', default: String(DEFAULTS.batchSize) },
      seed: { type: 'string', default: String(DEFAULTS.seed) },
      channels: { type: 'string', default: DEFAULTS.channels.join(',') },
      'retrieval-pairs': { type: 'string', default: String(DEFAULTS.retrievalPairs) },
      'log-every': { type: 'string', default: String(DEFAULTS.logEvery) },
    },
  });
  await initBackend();
  const r = await runClipExperiment({
    source: values.source,
    epochs: Number(values.epochs),
    maxSteps: Number(values['max-steps']),
    batchSize: Number(values['batch-size']),
    seed: Number(values.seed),
    channels: values.channels.split(',').map(Number),
    retrievalPairs: Number(values['retrieval-pairs']),
    logEvery: Number(values['log-every']),
  });
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  console.log(`\nsteps ${r.steps}, training ${(r.trainSeconds / 60).toFixed(1)} min`);
  console.log(
    `zero-shot top-1 (${FASHION_MNIST_PROMPTS.length} prompts ensembled): ${pct(r.zeroShotTop1)}; single prompt: ${pct(r.singlePromptTop1)}`,
  );
  console.log(
    `image→text recall@1 ${pct(r.recall.imageToText[1])}, @5 ${pct(r.recall.imageToText[5])}; text→image recall@1 ${pct(r.recall.textToImage[1])}, @5 ${pct(r.recall.textToImage[5])}`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
