import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';

import { registerWasmTrainingKernels } from '../backend/kernels/index';
import type { AnyEncoder } from './create-encoder';
import { createEncoder } from './create-encoder';
import { vitPreset } from './spec';

/**
 * One SGD step on a loss that depends on every parameter; returns the loss and checks that every
 * trainable variable received a finite gradient.
 */
function trainStep(encoder: AnyEncoder, inputs: tf.Tensor, optimizer: tf.Optimizer): number {
  const variables = encoder.model.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(
    () => tf.tidy(() => tf.mean(tf.square(tf.sub(encoder.features(inputs as tf.Tensor4D, { training: true }), 0.5))) as tf.Scalar),
    variables,
  );
  const gradientNames = Object.keys(grads);
  expect(gradientNames.length).toBe(variables.length);
  const allFinite = tf.tidy(() => tf.all(tf.stack(gradientNames.map((name) => tf.all(tf.isFinite(grads[name]))))));
  expect(allFinite.dataSync()[0]).toBe(1);
  allFinite.dispose();
  optimizer.applyGradients(grads);
  const loss = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
}

const cases: Array<{ name: string; build: () => AnyEncoder; input: () => tf.Tensor }> = [
  {
    name: 'cnn 28×28',
    build: () => createEncoder({ kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16, 32], seed: 1 }),
    input: () => tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 1),
  },
  {
    name: 'resnet18 16×16 (CIFAR stem)',
    build: () => createEncoder({ kind: 'resnet18', inputShape: [16, 16, 3], widthMultiplier: 0.25, seed: 2 }),
    input: () => tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 2),
  },
  {
    name: 'resnet50 32×32 (bottleneck)',
    build: () => createEncoder({ kind: 'resnet50', inputShape: [32, 32, 3], widthMultiplier: 0.125, seed: 2 }),
    input: () => tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 2),
  },
  {
    name: 'vit28',
    build: () => createEncoder({ ...vitPreset('vit28'), seed: 3 }),
    input: () => tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 3),
  },
  {
    name: 'mlp',
    build: () => createEncoder({ kind: 'mlp', inputDim: 10, hidden: [32, 16], seed: 4 }),
    input: () => tf.randomNormal([4, 10], 0, 1, 'float32', 4),
  },
  {
    name: 'text',
    build: () => createEncoder({ kind: 'text', vocabSize: 50, maxLength: 8, embedDim: 32, depth: 2, numHeads: 4, seed: 5 }),
    input: () =>
      tf.tensor2d(
        [
          [2, 10, 11, 12, 3, 0, 0, 0],
          [2, 20, 21, 3, 0, 0, 0, 0],
        ],
        undefined,
        'int32',
      ),
  },
];

describe('one training step on wasm with the training kernels', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    registerWasmTrainingKernels();
  });

  for (const testCase of cases) {
    it(`${testCase.name}: trains without missing kernels, leaks no tensors, lowers the loss`, () => {
      const encoder = testCase.build();
      const inputs = testCase.input();
      const optimizer = tf.train.sgd(0.05);
      const first = trainStep(encoder, inputs, optimizer); // warm-up: builds weights, caches
      const before = tf.memory().numTensors;
      trainStep(encoder, inputs, optimizer);
      expect(tf.memory().numTensors).toBe(before);
      let last = first;
      for (let i = 0; i < 3; i++) last = trainStep(encoder, inputs, optimizer);
      expect(Number.isFinite(last)).toBe(true);
      expect(last).toBeLessThan(first);
      optimizer.dispose();
      inputs.dispose();
      encoder.model.dispose();
    });
  }

  it('vit MAE path: embedPatches → keep a subset → encodeTokens trains every parameter, no leak', () => {
    const encoder = createEncoder({ ...vitPreset('vit28'), depth: 2, embedDim: 32, seed: 6 });
    const images = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 6) as tf.Tensor4D;
    const visible = tf.tensor1d([0, 3, 17, 30, 48], 'int32');
    const variables = encoder.model.trainableWeights.map((weight) => weight.read() as tf.Variable);
    const optimizer = tf.train.sgd(0.05);
    const step = () => {
      const { value, grads } = tf.variableGrads(
        () =>
          tf.tidy(() => {
            const kept = tf.gather(encoder.embedPatches(images, { training: true }), visible, 1) as tf.Tensor3D;
            const encoded = encoder.encodeTokens(kept, { training: true });
            expect(encoded.shape).toEqual([2, 6, 32]);
            return tf.mean(tf.square(tf.sub(encoded, 0.3))) as tf.Scalar;
          }),
        variables,
      );
      expect(Object.keys(grads).length).toBe(variables.length);
      optimizer.applyGradients(grads);
      const loss = value.dataSync()[0];
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    };
    const first = step();
    const before = tf.memory().numTensors;
    const second = step();
    expect(tf.memory().numTensors).toBe(before);
    expect(second).toBeLessThan(first);
    optimizer.dispose();
    tf.dispose([images, visible]);
    encoder.model.dispose();
  });
});
