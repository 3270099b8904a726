import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Random, createEncoder, createRegistry, imageDataset, initBackend, loadFashionMnist, train, vitPreset } from '@ssl/core';
import type { CnnSpec, ImageDataset, VitSpec } from '@ssl/core';
import { describeMethodContract, expectSslError, testBuildContext } from '@ssl/test-utils';
import masked, { AUTOREGRESSIVE_DEFAULTS, autoregressiveBatchLoss, autoregressiveForward } from '../index';
import type { AutoregressiveRuntime } from '../index';

const SMALL_VIT: VitSpec = vitPreset('vit28', { embedDim: 32, depth: 1, numHeads: 2, mlpRatio: 2 });

function imagesOf(dataset: ImageDataset, count: number): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.tensor4d(dataset.images.subarray(0, count * 784), [count, 28, 28, 1], 'float32'), 255) as tf.Tensor4D);
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describeMethodContract({
  plugin: masked,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'masked:autoregressive',
  config: {},
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: SMALL_VIT,
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { normPixLoss: 'yes' }, field: 'normPixLoss' },
    { config: { prefix: 1 }, field: 'prefix' },
  ],
  moreConfigs: [{ normPixLoss: false }, { prefix: false }],
});

describe('masked:autoregressive', () => {
  const build = (spec: VitSpec | CnnSpec, prefix = true) =>
    masked().methods.autoregressive.build(
      testBuildContext({
        config: { ...AUTOREGRESSIVE_DEFAULTS, prefix },
        inputShape: [28, 28, 1],
        createEncoder: () => createEncoder({ ...spec, seed: 2 } as VitSpec),
        rng: new Random(1),
      }),
    ) as AutoregressiveRuntime;

  /** The largest change of the predictions at positions [from, to) when the patches `changedPatches` selects change. */
  function predictionChange(
    runtime: AutoregressiveRuntime,
    changedPatches: (patch: number) => boolean,
    [from, to]: [number, number],
    prefixLengths?: number[],
  ): number {
    return tf.tidy(() => {
      const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
      const selected = Float32Array.from({ length: 784 }, (_, i) =>
        changedPatches(Math.floor(i / 112) * 7 + Math.floor((i % 28) / 4)) ? 1 : 0,
      );
      const where = tf.tensor4d(selected, [1, 28, 28, 1]);
      const changed = tf.add(
        tf.mul(x, tf.sub(1, where)),
        tf.mul(tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 2), where),
      ) as tf.Tensor4D;
      const positions = (images: tf.Tensor4D) =>
        tf.slice(autoregressiveForward(runtime, images, false, prefixLengths), [0, from, 0], [2, to - from, 16]);
      return tf.max(tf.abs(tf.sub(positions(x), positions(changed)))).dataSync()[0];
    });
  }

  // Patch k = 20 is row 2, column 6 of the 7×7 grid of 4×4 patches.
  const k = 20;

  it('prefix: false trains a causal ViT: the prediction at position k does not move when patches after k change', () => {
    const runtime = build(SMALL_VIT, false);
    expect(runtime.encoder.spec.causal).toBe(true);
    expect(predictionChange(runtime, (patch) => patch > k, [0, k + 1])).toBeLessThan(1e-6);
    // The positions that have seen the changed patches do move, so the check above can fail.
    expect(predictionChange(runtime, (patch) => patch > k, [k + 1, 49])).toBeGreaterThan(1e-3);
    runtime.encoder.model.dispose();
    runtime.head.dispose();
  });

  it('prefix (default) trains prefix-causal and keeps a bidirectional ViT: after the prefix, no position sees later patches', () => {
    const runtime = build(SMALL_VIT);
    // The run's encoder, saved and rebuilt as the control: bidirectional, patch tokens averaged.
    expect(runtime.encoder.spec.causal).toBe(false);
    expect(runtime.encoder.spec.pooling).toBe('mean');
    const prefixLengths = [10, 10];
    // Positions 0 … k (prefix included) ignore patches k + 1 … 48; those after k see them.
    expect(predictionChange(runtime, (patch) => patch > k, [0, k + 1], prefixLengths)).toBeLessThan(1e-6);
    expect(predictionChange(runtime, (patch) => patch > k, [k + 1, 49], prefixLengths)).toBeGreaterThan(1e-3);
    // Inside the prefix attention is bidirectional: position 0 sees patch 9, which it would not causally.
    expect(predictionChange(runtime, (patch) => patch === 9, [0, 1], prefixLengths)).toBeGreaterThan(1e-3);
    expect(predictionChange(runtime, (patch) => patch === 9, [0, 9], [1, 1])).toBeLessThan(1e-6);
    // And the encoder's own forward (evaluation) is bidirectional: position 0 sees the last patch.
    expect(predictionChange(runtime, (patch) => patch === 48, [0, 1], [49, 49])).toBeGreaterThan(1e-3);
    expect(
      tf.tidy(() => {
        const images = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
        const changed = tf.add(images, tf.mul(tf.reshape(tf.oneHot(tf.tensor1d([783], 'int32'), 784), [1, 28, 28, 1]), 0.5)) as tf.Tensor4D;
        const tokens = (x: tf.Tensor4D) => tf.slice(runtime.encoder.tokens(x), [0, 1, 0], [2, 1, runtime.encoder.embedDim]);
        return tf.max(tf.abs(tf.sub(tokens(images), tokens(changed)))).dataSync()[0];
      }),
    ).toBeGreaterThan(1e-4);
    runtime.encoder.model.dispose();
    runtime.head.dispose();
  });

  it('rejects a non-ViT encoder and a ViT that pools its class token', () => {
    const cnn: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [8] };
    expect(expectSslError(() => build(cnn), 'invalid-config')).toContain('encoder');
    expect(expectSslError(() => build({ ...SMALL_VIT, pooling: 'class' }), 'invalid-config')).toContain('encoder.pooling');
    expect(expectSslError(() => build({ ...SMALL_VIT, pooling: 'class' }, false), 'invalid-config')).toContain('encoder.pooling');
  });

  it('learns on the Fashion-MNIST sample: held-out next-patch error falls below each position’s mean next patch', async () => {
    const [trainSet, testSet] = await Promise.all([
      loadFashionMnist({ split: 'train', source: 'sample' }),
      loadFashionMnist({ split: 'test', source: 'sample' }),
    ]);
    const spec = vitPreset('vit28', { embedDim: 64, depth: 2, numHeads: 4, mlpRatio: 2 });
    // Raw pixels, so that the context-free optimum (each position's mean patch) is a meaningful bar.
    const config = { ...AUTOREGRESSIVE_DEFAULTS, normPixLoss: false };
    const method = createRegistry().use(masked()).create('masked:autoregressive', config);
    // Without the crops, so that a short run measures the objective on un-augmented images.
    const plain = { ...method, definition: { ...method.definition, views: () => ({ unlabeled: 'none' }) } };
    const result = await train({
      method: plain,
      data: trainSet,
      encoder: spec,
      batchSize: 32,
      maxSteps: 200,
      seed: 3,
      optimizer: { lr: 2e-3 },
    });
    // What `ssl pretrain` reports: the next-patch MSE beside the best context-free guess, each position's mean next
    // patch over these images.
    const before = tf.memory().numTensors;
    const [reported] = await result.runtime.heldOutTask!(
      imageDataset({ images: testSet.images.subarray(0, 256 * 784), shape: [28, 28, 1] }),
      {
        seed: 0,
      },
    );
    expect(tf.memory().numTensors).toBe(before);
    const heldOut = imagesOf(testSet, 256);
    expect(reported.value).toBe(tf.tidy(() => autoregressiveBatchLoss(result.runtime as AutoregressiveRuntime, heldOut).dataSync()[0]));
    result.dispose();
    heldOut.dispose();
    const [trainedLoss, positionMeanLoss] = [reported.value, reported.reference.value];
    console.log(
      `autoregressive learning test: held-out next-patch MSE position-mean guess ${positionMeanLoss.toFixed(4)}, trained ${trainedLoss.toFixed(4)}`,
    );
    // Measured (seed 3, wasm, 1 thread, 200 steps of 32, prefix training, causal read-out): trained 0.0525,
    // position-mean guess 0.0899 (bar 0.0719). The causal model (prefix: false) measured 0.0503 here.
    expect(trainedLoss).toBeLessThan(0.8 * positionMeanLoss);
  }, 600_000);
});
