import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';

import { fusedBatchNormAvailable } from '../backend/kernels/batch-norm';
import { registerWasmTrainingKernels } from '../backend/kernels/index';
import { setSimdKernelsEnabled } from '../backend/kernels/simd/simd-kernels';
import { createEncoder } from './create-encoder';
import { fastBatchNormalization } from './batch-norm';
import { BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM } from './layers-encoder';

/**
 * MLP encoder with one hidden layer: h = xW (no bias), BN, ReLU. With known weights, batch norm can be
 * computed by hand: training uses the batch's mean and biased variance and moves the averages by
 * moving ← moving − (moving − batch)·(1 − momentum) (tfjs-layers' convention; momentum 0.9 here is
 * PyTorch's 0.1); inference uses the moving averages.
 */
describe('batch norm in the encoders', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it('training: batch statistics and moving-average updates; inference: moving averages', async () => {
    expect(BATCH_NORM_MOMENTUM).toBe(0.9);
    const encoder = createEncoder({ kind: 'mlp', inputDim: 2, hidden: [2] });
    const kernel = [
      [1, -1],
      [2, 0.5],
    ];
    const gamma = [1.5, 0.5];
    const beta = [0.25, -0.1];
    // Weight order: dense kernel, BN gamma, beta, moving mean, moving variance.
    const names = encoder.model.weights.map((w) => w.originalName.split('/').pop());
    expect(names).toEqual(['kernel', 'gamma', 'beta', 'moving_mean', 'moving_variance']);
    const initial = [tf.tensor2d(kernel), tf.tensor1d(gamma), tf.tensor1d(beta), tf.tensor1d([0, 0]), tf.tensor1d([1, 1])];
    encoder.model.setWeights(initial);
    tf.dispose(initial);

    const rows = [
      [1, 0],
      [0, 1],
      [2, 1],
    ];
    const hidden = rows.map((row) => [0, 1].map((j) => row[0] * kernel[0][j] + row[1] * kernel[1][j]));
    const batchMean = [0, 1].map((j) => hidden.reduce((s, h) => s + h[j], 0) / rows.length);
    const batchVariance = [0, 1].map((j) => hidden.reduce((s, h) => s + (h[j] - batchMean[j]) ** 2, 0) / rows.length);
    const normalize = (mean: number[], variance: number[]) =>
      hidden.map((h) =>
        [0, 1].map((j) => Math.max(0, ((h[j] - mean[j]) / Math.sqrt(variance[j] + BATCH_NORM_EPSILON)) * gamma[j] + beta[j])),
      );

    const x = tf.tensor2d(rows);
    const trainingOutput = encoder.features(x, { training: true });
    const expectedTraining = normalize(batchMean, batchVariance);
    (await trainingOutput.array()).forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expectedTraining[i][j], 5)));

    const movingMean = batchMean.map((m) => 0 - (0 - m) * (1 - BATCH_NORM_MOMENTUM));
    const movingVariance = batchVariance.map((v) => 1 - (1 - v) * (1 - BATCH_NORM_MOMENTUM));
    const weights = encoder.model.getWeights();
    Array.from(await weights[3].data()).forEach((v, j) => expect(v).toBeCloseTo(movingMean[j], 6));
    Array.from(await weights[4].data()).forEach((v, j) => expect(v).toBeCloseTo(movingVariance[j], 6));

    const inferenceOutput = encoder.features(x, { training: false });
    const expectedInference = normalize(movingMean, movingVariance);
    (await inferenceOutput.array()).forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expectedInference[i][j], 5)));
    // Inference leaves the averages alone.
    expect(Array.from(await encoder.model.getWeights()[3].data())).toEqual(Array.from(await weights[3].data()));

    // A second training step moves them again from where they are.
    tf.dispose(encoder.features(x, { training: true }));
    const secondMean = await encoder.model.getWeights()[3].data();
    secondMean.forEach((v, j) => expect(v).toBeCloseTo(movingMean[j] - (movingMean[j] - batchMean[j]) * (1 - BATCH_NORM_MOMENTUM), 6));
    tf.dispose([x, trainingOutput, inferenceOutput]);
    encoder.model.dispose();
  });

  it('convolutional batch norm normalizes per channel over batch and space in training mode', async () => {
    const encoder = createEncoder({ kind: 'cnn', inputShape: [6, 6, 2], channels: [3], seed: 9 });
    const x = tf.randomNormal([4, 6, 6, 2], 1, 2, 'float32', 5) as tf.Tensor4D;
    // BN has gamma = 1, beta = 0 at init, so before the ReLU each channel has mean 0 and variance ≈ 1.
    const bnLayer = encoder.model.layers.find((layer) => layer.getClassName() === 'BatchNormalization');
    expect(bnLayer).toBeDefined();
    const convOutput = tf.tidy(() => encoder.model.layers[1].apply(x) as tf.Tensor);
    const normalized = bnLayer!.apply(convOutput, { training: true }) as tf.Tensor;
    const { mean, variance } = tf.moments(normalized, [0, 1, 2]);
    Array.from(await mean.data()).forEach((m) => expect(Math.abs(m)).toBeLessThan(1e-4));
    Array.from(await variance.data()).forEach((v) => expect(v).toBeCloseTo(1, 3));
    const inference = bnLayer!.apply(convOutput, { training: false }) as tf.Tensor;
    const inferenceMoments = tf.moments(inference, [0, 1, 2]);
    // After one update the moving statistics are still mostly the initial (0, 1), so inference is not normalized.
    expect(Math.max(...Array.from(await inferenceMoments.mean.data()).map(Math.abs))).toBeGreaterThan(1e-2);
    tf.dispose([x, convOutput, normalized, mean, variance, inference, inferenceMoments.mean, inferenceMoments.variance]);
    encoder.model.dispose();
  });

  it.each([
    ['the fused wasm kernels', true],
    ['tfjs ops', false],
  ])(
    "the closed-form training gradient, through %s, equals the stock layer's (values, dx, dγ, dβ, moving averages) for 2-D and 4-D inputs",
    async (_, fused) => {
      registerWasmTrainingKernels();
      setSimdKernelsEnabled(fused);
      expect(fusedBatchNormAvailable()).toBe(fused);
      try {
        await compareWithStock();
      } finally {
        setSimdKernelsEnabled(true);
      }
    },
  );

  // Channel counts with and without a SIMD remainder; 150 rows cross the kernels' 64-row blocks.
  async function compareWithStock(): Promise<void> {
    for (const shape of [
      [5, 3],
      [3, 4, 5, 6],
      [1, 2, 3, 4],
      [150, 9],
    ]) {
      const channels = shape[shape.length - 1];
      const fast = fastBatchNormalization({ momentum: 0.9, epsilon: 1e-5 });
      const stock = tfl.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
      fast.build(shape);
      stock.build(shape);
      const weights = [
        tf.randomNormal([channels], 1, 0.5, 'float32', 1),
        tf.randomNormal([channels], 0, 0.5, 'float32', 2),
        tf.randomNormal([channels], 0, 1, 'float32', 3),
        tf.randomUniform([channels], 0.5, 2, 'float32', 4),
      ];
      fast.setWeights(weights);
      stock.setWeights(weights);
      const x = tf.randomNormal(shape, 2, 3, 'float32', 7);
      const dy = tf.randomNormal(shape, 0, 1, 'float32', 8);
      const run = (layer: tfl.layers.Layer) =>
        tf.variableGrads(
          () => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, dy)) as tf.Scalar,
          layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val),
        );
      const fastGrads = run(fast);
      const stockGrads = run(stock);
      expect(Math.abs((await fastGrads.value.data())[0] - (await stockGrads.value.data())[0])).toBeLessThan(1e-3);
      for (const name of Object.keys(stockGrads.grads)) {
        const a = await fastGrads.grads[Object.keys(fastGrads.grads)[Object.keys(stockGrads.grads).indexOf(name)]].data();
        const b = await stockGrads.grads[name].data();
        b.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 3));
      }
      const dxFast = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(fast.apply(input, { training: true }) as tf.Tensor, dy)))(x);
      const dxStock = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(stock.apply(input, { training: true }) as tf.Tensor, dy)))(x);
      const [fastDx, stockDx] = [await dxFast.data(), await dxStock.data()];
      stockDx.forEach((v, i) => expect(fastDx[i]).toBeCloseTo(v, 3));
      const [fastMoving, stockMoving] = [fast.getWeights().slice(2), stock.getWeights().slice(2)];
      for (let i = 0; i < 2; i++) {
        const [a, b] = [await fastMoving[i].data(), await stockMoving[i].data()];
        b.forEach((v, j) => expect(a[j]).toBeCloseTo(v, 5));
      }
      expect(fast.getClassName()).toBe('BatchNormalization');
      tf.dispose([
        ...weights,
        x,
        dy,
        dxFast,
        dxStock,
        fastGrads.value,
        stockGrads.value,
        ...Object.values(fastGrads.grads),
        ...Object.values(stockGrads.grads),
      ]);
      for (const w of [...fast.weights, ...stock.weights]) w.dispose();
    }
  }

  it('a training step through the fast batch norm leaves no tensors behind', () => {
    const layer = fastBatchNormalization({ momentum: 0.9, epsilon: 1e-5 });
    layer.build([4, 3, 3, 2]);
    const x = tf.randomNormal([4, 3, 3, 2]);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    for (const w of layer.weights) w.dispose();
  });
});
