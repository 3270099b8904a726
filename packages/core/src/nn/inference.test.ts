import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { registerWasmTrainingKernels } from '../backend/kernels/index';
import { createEncoder } from './create-encoder';
import { inferenceEncoder } from './inference';
import type { Encoder } from './encoder';
import type { EncoderSpec } from './spec';
import { vitPreset } from './spec';

/** Gives every batch norm of the encoder moving statistics and an affine map far from the identity, so a wrong fold shows. */
function randomizeBatchNorms(encoder: Encoder, seed: number): void {
  let next = seed;
  for (const layer of encoder.model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const shapes = layer.getWeights().map((weight) => weight.shape);
    // Weight order: gamma, beta, moving mean, moving variance.
    layer.setWeights(
      shapes.map((shape, i) =>
        i === 3
          ? tf.randomUniform(shape, 0.2, 3, 'float32', next++)
          : tf.randomUniform(shape, i === 0 ? 0.3 : -1, i === 0 ? 2 : 1, 'float32', next++),
      ),
    );
  }
}

/** Largest |a − b| over the largest |b|: the error relative to the output's scale. */
async function relativeError(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const [difference, scale] = tf.tidy(() => [tf.max(tf.abs(tf.sub(a, b))), tf.max(tf.abs(b))]);
  const value = (await difference.data())[0] / (await scale.data())[0];
  tf.dispose([difference, scale]);
  return value;
}

const SPECS: { name: string; spec: EncoderSpec; folds: number; size: number }[] = [
  { name: 'cnn 32-64-128', spec: { kind: 'cnn', inputShape: [28, 28, 1], seed: 3 }, folds: 3, size: 28 },
  {
    name: 'cnn 16-32, 2 convs per stage',
    spec: { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32], convsPerStage: 2, seed: 4 },
    folds: 4,
    size: 28,
  },
  // Stem, 8 blocks × 2 convs, 3 projection shortcuts: every BN of a ResNet-18 follows a conv.
  { name: 'resnet18 ×0.25', spec: { kind: 'resnet18', inputShape: [16, 16, 3], widthMultiplier: 0.25, seed: 5 }, folds: 20, size: 16 },
];

for (const backend of ['wasm', 'cpu']) {
  describe(`inferenceEncoder on ${backend}`, () => {
    beforeAll(async () => {
      if (backend === 'wasm') registerWasmTrainingKernels();
      await tf.setBackend(backend);
      await tf.ready();
    });
    afterAll(() => tf.disposeVariables());

    for (const { name, spec, folds, size } of SPECS) {
      it(`${name}: folded features equal the eval-mode forward within 1e-5`, async () => {
        const encoder = createEncoder(spec);
        randomizeBatchNorms(encoder, 10);
        const channels = spec.kind === 'cnn' || spec.kind === 'resnet18' ? spec.inputShape[2] : 1;
        const x = tf.randomUniform([6, size, size, channels], 0, 1, 'float32', 7) as tf.Tensor4D;
        const reference = encoder.features(x, { training: false });
        const weightsBefore = encoder.model.getWeights().map((weight) => weight.dataSync().slice());
        const fast = inferenceEncoder(encoder);
        expect(fast.foldedBatchNorms).toBe(folds);
        const tensorsBefore = tf.memory().numTensors;
        const features = fast.features(x);
        expect(tf.memory().numTensors).toBe(tensorsBefore + 1);
        expect(features.shape).toEqual(reference.shape);
        expect(await relativeError(features, reference)).toBeLessThan(1e-5);
        // Other sizes go through the same folded graph (global pooling ends it).
        const larger = tf.randomUniform([2, size * 2, size * 2, channels], 0, 1, 'float32', 8) as tf.Tensor4D;
        const largerReference = encoder.features(larger, { training: false });
        const largerFeatures = fast.features(larger);
        expect(await relativeError(largerFeatures, largerReference)).toBeLessThan(1e-5);
        // The encoder's own weights are untouched, and the wrong channel count is refused.
        encoder.model.getWeights().forEach((weight, i) => expect(weight.dataSync()).toEqual(weightsBefore[i]));
        expect(() => fast.features(tf.zeros([1, size, size, channels + 1]) as tf.Tensor4D)).toThrow(/does not match/);
        fast.dispose();
        tf.dispose([x, reference, features, larger, largerReference, largerFeatures]);
        encoder.model.dispose();
      });
    }

    it('encoders without conv → batch norm chains run their own eval-mode forward', async () => {
      for (const spec of [
        { kind: 'cnn', inputShape: [12, 12, 1], channels: [8, 8], batchNorm: false, seed: 1 },
        { ...vitPreset('vit28'), depth: 1, seed: 2 },
      ] as EncoderSpec[]) {
        const encoder = createEncoder(spec);
        const size = spec.kind === 'vit' ? 28 : 12;
        const x = tf.randomUniform([3, size, size, 1], 0, 1, 'float32', 9) as tf.Tensor4D;
        const fast = inferenceEncoder(encoder);
        expect(fast.foldedBatchNorms).toBe(0);
        const [a, b] = [fast.features(x), encoder.features(x, { training: false })];
        expect(await relativeError(a, b)).toBe(0);
        tf.dispose([x, a, b]);
        fast.dispose();
        encoder.model.dispose();
      }
    });
  });
}
