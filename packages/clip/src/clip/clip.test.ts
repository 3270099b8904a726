import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Random,
  SslError,
  createEncoder,
  createRegistry,
  gatherBatch,
  initBackend,
  loadFashionMnist,
  splitWords,
  subset,
  train,
} from '@ssl/core';
import type { ImageTextBatch, StepContext } from '@ssl/core';
import { describeMethodContract, disposeTestRuntime, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import clipPlugin, {
  FASHION_MNIST_PROMPTS,
  clip,
  clipModelOf,
  ensembleClassEmbeddings,
  fashionMnistCaptions,
  fashionMnistPairs,
  retrievalRecall,
  zeroShotClassifier,
} from '../index';
import type { ClipConfig, ClipRuntime } from '../index';

// Single-threaded wasm: bit-exact reruns for the method contract's determinism and resume tests.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

const SHAPE: [number, number, number] = [28, 28, 1];
const tinyConfig = { embedDim: 16, text: { embedDim: 16, depth: 1, numHeads: 2, maxLength: 12, mlpRatio: 2, vocabLimit: 500 } };

function buildRuntime(overrides: Partial<ClipConfig> = {}): ClipRuntime {
  const config = { ...clip.defaults, ...tinyConfig, ...overrides } as ClipConfig;
  clip.validate?.(config);
  let seed = 1;
  const context = testBuildContext<ClipConfig>({
    config,
    inputShape: SHAPE,
    captions: fashionMnistCaptions(
      Array.from({ length: 200 }, (_, i) => i % 10),
      new Random(0),
    ),
    rng: new Random(2),
    createEncoder: () => createEncoder({ kind: 'cnn', inputShape: SHAPE, channels: [4, 8], seed: seed++ }),
  });
  return clip.build(context) as ClipRuntime;
}

describeMethodContract({
  plugin: clipPlugin,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'clip:clip',
  config: tinyConfig,
  data: { imageText: { source: 'fashion-mnist-sample', size: 64 } },
  encoder: { kind: 'cnn', inputShape: SHAPE, channels: [8, 16] },
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { embedDim: 0 }, field: 'embedDim' },
    { config: { text: { numHeads: 3 } }, field: 'text.numHeads' },
    { config: { initialTemperature: 0 }, field: 'initialTemperature' },
    { config: { maxLogitScale: 0.5 }, field: 'maxLogitScale' },
    { config: { initialTemperature: 0.001 }, field: 'initialTemperature' },
    { config: { augment: 'simclr' }, field: 'augment' },
  ],
});

const stepContext: StepContext = testStepContext({ step: 0, epoch: 0, totalSteps: 10, progress: 0, rng: new Random(0), lr: 1e-3 });

describe('fashion-mnist captions', () => {
  it('are varied, seeded, and name the class in words the zero-shot prompts use', () => {
    const labels = Array.from({ length: 500 }, (_, i) => i % 10);
    const captions = fashionMnistCaptions(labels, new Random(4));
    expect(fashionMnistCaptions(labels, new Random(4))).toEqual(captions);
    expect(new Set(captions).size).toBeGreaterThan(200);
    const words = new Set(captions.flatMap(splitWords));
    for (const name of ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']) {
      for (const word of splitWords(name)) expect(words.has(word), word).toBe(true);
    }
    expect(() => fashionMnistCaptions([10], new Random(0))).toThrow(SslError);
  });
});

describe('clip step', () => {
  it('starts at logit scale 1/0.07 and clamps it at maxLogitScale in the step and after it', () => {
    const runtime = buildRuntime();
    const model = clipModelOf(runtime);
    expect(model.logitScale()).toBeCloseTo(1 / 0.07, 3);
    const images = tf.randomUniform([6, ...SHAPE], 0, 1, 'float32', 3) as tf.Tensor4D;
    const batch: ImageTextBatch = {
      kind: 'image-text',
      images,
      views: [images],
      indices: sampleIds(6),
      captions: fashionMnistCaptions([0, 1, 2, 3, 4, 5], new Random(1)),
    };
    model.logLogitScale.assign(tf.scalar(Math.log(1000)));
    const used = tf.tidy(() => (runtime.step(batch, stepContext).metrics!.logitScale as tf.Scalar).dataSync()[0]);
    expect(used).toBeCloseTo(100, 3);
    tf.tidy(() => runtime.afterStep?.(batch, stepContext));
    expect(model.logLogitScale.dataSync()[0]).toBeCloseTo(Math.log(100), 5);
    expect(model.logitScale()).toBeCloseTo(100, 3);
    images.dispose();
    disposeTestRuntime(runtime);
  });
});

describe('zero-shot and retrieval', () => {
  it('ensembles prompts as the renormalized mean of normalized embeddings (naive reference)', () => {
    const classes = 3;
    const templates = 4;
    const dim = 5;
    const rng = new Random(7);
    const rows = Array.from({ length: classes * templates }, () =>
      Array.from({ length: dim }, () => rng.normal() * (1 + rng.uniform() * 3)),
    );
    const ensembled = tf.tidy(() => ensembleClassEmbeddings(tf.tensor2d(rows), classes).arraySync());
    for (let c = 0; c < classes; c++) {
      const mean = new Array(dim).fill(0);
      for (let t = 0; t < templates; t++) {
        const row = rows[c * templates + t];
        const norm = Math.hypot(...row);
        row.forEach((v, k) => (mean[k] += v / norm / templates));
      }
      const norm = Math.hypot(...mean);
      mean.forEach((v, k) => expect(ensembled[c][k]).toBeCloseTo(v / norm, 5));
    }
    expect(() => ensembleClassEmbeddings(tf.zeros([5, 2]) as tf.Tensor2D, 2)).toThrow(SslError);
  });

  it('computes recall@k in both directions', () => {
    // Image 0 ↔ text 0 match; image 1's nearest text is text 2; text 2's nearest image is image 1.
    const images = tf.tensor2d([
      [1, 0],
      [0, 1],
      [1, 1],
    ]);
    const texts = tf.tensor2d([
      [1, 0.1],
      [1, 0.9],
      [0.2, 1],
    ]);
    const recall = retrievalRecall(images, texts, [1, 2, 3]);
    // Cosines, rows = images: i0 → t0 best (rank 0); i1 → t2 beats its t1 (rank 1); i2 → t1 beats its t2 (rank 1).
    expect(recall.imageToText).toEqual({ 1: 1 / 3, 2: 1, 3: 1 });
    // Columns = texts: t0 → i0 (rank 0); t1 → i2 and i0 beat i1 (rank 2); t2 → i1 beats i2 (rank 1).
    expect(recall.textToImage).toEqual({ 1: 1 / 3, 2: 2 / 3, 3: 1 });
    tf.dispose([images, texts]);
  });

  it('trains on the sample and zero-shot classifies test images well above chance', async () => {
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const testSet = await loadFashionMnist({ split: 'test', source: 'sample' });
    const pairs = fashionMnistPairs(trainSet, 0);
    const result = await train({
      method: createRegistry().use(clipPlugin()).create('clip:clip'),
      data: pairs,
      encoder: { kind: 'cnn', inputShape: SHAPE, channels: [16, 32, 64] },
      epochs: 3,
      batchSize: 100,
      seed: 0,
    });
    expect(result.history.at(-1)!.loss).toBeLessThan(result.history[0].loss);
    const evaluation = subset(
      testSet,
      Array.from({ length: 500 }, (_, i) => i),
    );
    const batch = gatherBatch(
      evaluation,
      Array.from({ length: evaluation.size }, (_, i) => i),
    );
    const classifier = zeroShotClassifier(result.runtime, evaluation.classNames ?? [], FASHION_MNIST_PROMPTS);
    const predictions = classifier.predict(batch.images).dataSync();
    const labels = evaluation.labels!;
    const accuracy = labels.reduce((sum, label, i) => sum + (predictions[i] === label ? 1 : 0), 0) / labels.length;
    console.log(
      `clip CI: zero-shot top-1 ${(100 * accuracy).toFixed(1)}% on ${labels.length} sample test images after ${result.steps} steps`,
    );
    // Chance is 10%; a short budget on 3000 pairs reaches far more (measured in the README).
    expect(accuracy).toBeGreaterThan(0.4);
    classifier.dispose();
    tf.dispose([batch.images, batch.labels as tf.Tensor]);
    result.dispose();
  }, 300_000);
});
