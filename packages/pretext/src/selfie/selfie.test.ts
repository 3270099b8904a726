import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, createRegistry, initBackend, loadFashionMnist, train } from '@ssl/core';
import { describeMethodContract } from '@ssl/test-utils';
import pretext, { evaluateSelfie, selfieLogits, selfiePoolingNetwork } from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describeMethodContract({
  plugin: pretext,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'pretext:selfie',
  config: { attentionDim: 8 },
  moreConfigs: [
    { grid: 3, maskedPatches: 2, attentionDim: 4 },
    { maskedPatches: 2, attentionDim: 4, patchInputSize: 14 },
  ],
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], batchNorm: true },
  batchSize: 8,
  steps: 4,
  invalidConfigs: [
    { config: { grid: 1 }, field: 'grid' },
    { config: { maskedPatches: 1 }, field: 'maskedPatches' },
    { config: { maskedPatches: 16 }, field: 'maskedPatches' },
    { config: { attentionDim: 0 }, field: 'attentionDim' },
    { config: { patchInputSize: 2.5 }, field: 'patchInputSize' },
    { config: { patchInputSize: -7 }, field: 'patchInputSize' },
  ],
  checkRun(result) {
    // M-way cross-entropy over the candidates starts near log M (log 4 ≈ 1.39, log 2 ≈ 0.69).
    expect(result.history[0].loss).toBeGreaterThan(0.4);
    expect(result.history[0].loss).toBeLessThan(4);
  },
});

describe('selfieLogits', () => {
  it('scores, for each hidden position, the hidden patches of its own image, the true one at the label', () => {
    const encoder = createEncoder({ kind: 'cnn', inputShape: [28, 28, 1], channels: [4, 8], seed: 1 });
    const pooling = selfiePoolingNetwork({ featureDim: 8, positions: 16, visible: 12, masked: 4, attentionDim: 4, seed: 2 });
    const rng = new Random(3);
    const images = tf.tidy(() => tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 4)) as tf.Tensor4D;
    const { logits, labels } = selfieLogits(encoder, pooling, images, rng, { grid: 4, maskedPatches: 4 }, false);
    expect(logits.shape).toEqual([12, 4]);
    expect(Array.from(labels.dataSync())).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
    // Candidates come from the same image: making image 1 blank changes only the rows of image 1.
    const blanked = tf.tidy(() =>
      tf.concat([tf.slice(images, [0], [1]), tf.zeros([1, 28, 28, 1]), tf.slice(images, [2], [1])]),
    ) as tf.Tensor4D;
    const again = selfieLogits(encoder, pooling, blanked, new Random(3), { grid: 4, maskedPatches: 4 }, false);
    const before = logits.arraySync();
    const after = again.logits.arraySync();
    for (let row = 0; row < 12; row++) {
      const sameImage = row >= 4 && row < 8;
      for (let c = 0; c < 4; c++) {
        if (sameImage)
          expect(after[row][c]).toBeCloseTo(after[row][0], 4); // blank patches are indistinguishable
        else expect(after[row][c]).toBeCloseTo(before[row][c], 4);
      }
    }
    tf.dispose([images, blanked, logits, labels, again.logits, again.labels]);
    encoder.model.dispose();
    pooling.dispose();
  });

  it('gives the encoder the patches resized to patchInputSize, and as cut when it is 0', () => {
    const encoder = createEncoder({ kind: 'cnn', inputShape: [28, 28, 1], channels: [4, 8], seed: 1 });
    const seen: number[][] = [];
    const recording = { ...encoder, features: (x: tf.Tensor4D | tf.Tensor2D) => (seen.push(x.shape), encoder.features(x)) };
    const pooling = selfiePoolingNetwork({ featureDim: 8, positions: 16, visible: 12, masked: 4, attentionDim: 4, seed: 2 });
    const images = tf.tidy(() => tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 4)) as tf.Tensor4D;
    for (const patchInputSize of [0, 14]) {
      const { logits, labels } = selfieLogits(
        recording,
        pooling,
        images,
        new Random(3),
        { grid: 4, maskedPatches: 4, patchInputSize },
        false,
      );
      tf.dispose([logits, labels]);
    }
    // 2 images × 16 patches of 7×7, then the same 32 patches at 14×14.
    expect(seen).toEqual([
      [32, 7, 7, 1],
      [32, 14, 14, 1],
    ]);
    images.dispose();
    encoder.model.dispose();
    pooling.dispose();
  });
});

describe('selfie patchInputSize', () => {
  it('refuses a side smaller than the patch the grid cuts, naming the option', async () => {
    const data = await loadFashionMnist({ split: 'test', source: 'sample' });
    const method = createRegistry().use(pretext()).create('pretext:selfie', { patchInputSize: 5 });
    const encoder = { kind: 'cnn', inputShape: [28, 28, 1], channels: [4, 8] } as const;
    await expect(train({ method, data, encoder, epochs: 1, batchSize: 4 })).rejects.toThrow(/patchInputSize.*patchSize \(7\)/);
  });
});

// CI learning test, measured with this setup (seed 1, encoder seed 3, 1 wasm thread): 2 epochs of the 3000-image
// sample (92 steps of 64 images, 16 patches of 7×7 each, 4 hidden) take ~10 s of training; held-out accuracy of
// picking the true patch among the 4 candidates 0.677 on the 1000 sample test images (chance 0.25). The bar, 0.45,
// is 1.8× chance and well under the measured value.
const HELD_OUT_FLOOR = 0.45;

describe('selfie learns', () => {
  it('picks the true patch of held-out images far above chance (1/4)', async () => {
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const testSet = await loadFashionMnist({ split: 'test', source: 'sample' });
    const method = createRegistry().use(pretext()).create('pretext:selfie');
    const result = await train({
      method,
      data: trainSet,
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32], batchNorm: true, seed: 3 },
      epochs: 2,
      batchSize: 64,
      seed: 1,
    });
    const heldOut = await evaluateSelfie(result.encoder, result.runtime.trainable.pooling, testSet, method.config, { seed: 5 });
    console.log(`selfie on sample: held-out accuracy among 4 candidates ${heldOut.toFixed(3)} (chance 0.25)`);
    expect(heldOut).toBeGreaterThan(HELD_OUT_FLOOR);
    result.dispose();
  }, 180_000);
});
