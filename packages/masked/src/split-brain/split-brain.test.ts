import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, initBackend, loadEmoji, loadFashionMnist, train } from '@ssl/core';
import type { CnnSpec, ImageDataset } from '@ssl/core';
import { describeMethodContract, expectSslError } from '@ssl/test-utils';
import masked, { SPLIT_BRAIN_DEFAULTS, SplitBrainEncoder, splitBrainLosses } from '../index';
import type { SplitBrainRuntime } from '../index';

const SMALL_CNN: CnnSpec = { kind: 'cnn', inputShape: [32, 32, 3], channels: [8, 16] };

function imagesOf(dataset: ImageDataset, count = dataset.size): tf.Tensor4D {
  const [h, w, c] = dataset.shape;
  return tf.tidy(() => tf.div(tf.tensor4d(dataset.images.subarray(0, count * h * w * c), [count, h, w, c], 'float32'), 255) as tf.Tensor4D);
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});
// The shared contract suite on the colour sample (split-brain predicts ab from L and L from ab).
describeMethodContract({
  plugin: masked,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'masked:split-brain',
  config: {},
  moreConfigs: [{ abGridSize: 20, lightnessBins: 20 }],
  data: { source: 'emoji-sample', size: 64 },
  encoder: SMALL_CNN,
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { abGridSize: 0 }, field: 'abGridSize' },
    { config: { lightnessBins: 1 }, field: 'lightnessBins' },
    { config: { lightnessBins: 2.5 }, field: 'lightnessBins' },
  ],
  checkRun(result) {
    const last = result.history[result.history.length - 1];
    expect(Number.isFinite(last.metrics.abLoss) && Number.isFinite(last.metrics.lightnessLoss)).toBe(true);
  },
});

describe('masked:split-brain', () => {
  it('features are [F1(L), F2(ab)]: F1 ignores colour at constant lightness, F2 ignores lightness', () => {
    const encoder = new SplitBrainEncoder({ kind: 'split-brain', inputShape: [32, 32, 3], half: SMALL_CNN, seed: 4 });
    expect(encoder.featureDim).toBe(32);
    const result = tf.tidy(() => {
      const images = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const features = encoder.features(images);
      // The saved model (RGB in, with the Lab layer inside) computes the same features.
      const fromModel = encoder.model.predict(images) as tf.Tensor2D;
      // A grey image has a = b = 0: F2's half does not depend on which grey.
      const grey = (level: number) => tf.fill([1, 32, 32, 3], level) as tf.Tensor4D;
      const colourHalf = (x: tf.Tensor4D) => tf.slice(encoder.features(x), [0, 16], [1, 16]);
      return {
        modelDifference: tf.max(tf.abs(tf.sub(features, fromModel))).dataSync()[0],
        greyColourHalf: tf.max(tf.abs(tf.sub(colourHalf(grey(0.2)), colourHalf(grey(0.9))))).dataSync()[0],
        greyLightHalf: tf
          .max(
            tf.abs(tf.sub(tf.slice(encoder.features(grey(0.2)), [0, 0], [1, 16]), tf.slice(encoder.features(grey(0.9)), [0, 0], [1, 16]))),
          )
          .dataSync()[0],
      };
    });
    expect(result.modelDifference).toBeLessThan(1e-5);
    // Not exactly 0: sRGB grey has |a|, |b| < 0.01 (the rounding of the colour matrix).
    expect(result.greyColourHalf).toBeLessThan(1e-4);
    expect(result.greyLightHalf).toBeGreaterThan(100 * result.greyColourHalf);
    encoder.model.dispose();
  });

  it('rejects grey images and encoders without a feature map', async () => {
    const grey = await loadFashionMnist({ split: 'test', source: 'sample' });
    const method = createRegistry().use(masked()).create('masked:split-brain', {});
    await expect(train({ method, data: grey, encoder: { kind: 'cnn', inputShape: [28, 28, 1] }, maxSteps: 1 })).rejects.toThrow(/colour/);
    expectSslError(
      () =>
        new SplitBrainEncoder({ kind: 'split-brain', inputShape: [32, 32, 3], half: { kind: 'mlp', inputDim: 3, hidden: [4] } as never }),
      'invalid-config',
    );
  });

  it('learns on the emoji sample: held-out cross-entropy of both directions falls below the bins’ prior', async () => {
    const [trainSet, testSet] = await Promise.all([loadEmoji({ split: 'train' }), loadEmoji({ split: 'test' })]);
    const method = createRegistry().use(masked()).create('masked:split-brain', SPLIT_BRAIN_DEFAULTS);
    // Without the crops, so that a short run measures the objective on un-augmented images.
    const plain = { ...method, definition: { ...method.definition, views: () => ({ unlabeled: 'none' }) } };
    const result = await train({
      method: plain,
      data: trainSet,
      encoder: { kind: 'cnn', inputShape: [32, 32, 3], channels: [16, 32] },
      batchSize: 32,
      maxSteps: 150,
      seed: 3,
      optimizer: { lr: 3e-3 },
    });
    const runtime = result.runtime as SplitBrainRuntime;
    // What `ssl pretrain` reports: both directions' cross-entropy beside the best context-free guess, the bins'
    // frequencies over every position of these held-out images (their entropy).
    const before = tf.memory().numTensors;
    const [ab, lightness] = await runtime.heldOutTask!(testSet, { seed: 0 });
    expect(tf.memory().numTensors).toBe(before);
    // The read-out is the method's own loss, over the whole test sample (355 images) in batches of 256.
    const heldOut = imagesOf(testSet);
    const losses = tf.tidy(() => {
      const { abLoss, lightnessLoss } = splitBrainLosses(runtime, heldOut);
      return [abLoss.dataSync()[0], lightnessLoss.dataSync()[0]];
    });
    // Float32 means over 90 880 rows in one pass against two batches: equal to ~1e-5 relative.
    expect(Math.abs(ab.value / losses[0] - 1)).toBeLessThan(1e-4);
    expect(Math.abs(lightness.value / losses[1] - 1)).toBeLessThan(1e-4);
    result.dispose();
    heldOut.dispose();
    const trained = { ab: ab.value, lightness: lightness.value };
    const prior = { ab: ab.reference.value, lightness: lightness.reference.value };
    console.log(
      `split-brain learning test: held-out cross-entropy L→ab ${trained.ab.toFixed(3)} (prior ${prior.ab.toFixed(3)}), ab→L ${trained.lightness.toFixed(3)} (prior ${prior.lightness.toFixed(3)})`,
    );
    // Measured (seed 3, wasm, 1 thread) against 2.698 / 2.707 for these images' own bin frequencies (the reference
    // now; 2.728 / 2.711 with the training set's): after 150 steps L→ab 2.215, ab→L 2.221 (0.82 of the prior); after
    // 100 steps 2.446 / 2.362 (0.91 / 0.87); after 250 steps, the test's budget before, 2.082 / 2.105 (0.77 / 0.78,
    // against a bar of 0.8). The bar asks for about half the measured drop.
    expect(trained.ab).toBeLessThan(0.9 * prior.ab);
    expect(trained.lightness).toBeLessThan(0.9 * prior.lightness);
  }, 600_000);
});
