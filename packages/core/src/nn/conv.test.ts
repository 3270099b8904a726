import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';

import { registerWasmTrainingKernels } from '../backend/kernels/index';
import { variableGrads } from '../train/gradients';
import { conv2dLayer } from './conv';
import { createEncoder } from './create-encoder';

describe('conv2dLayer', () => {
  beforeAll(async () => {
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
  });

  it('equals the stock Conv2D (values and gradients, with and without bias, strides 1 and 2) and serializes as it', () => {
    for (const args of [
      { filters: 5, kernelSize: 3, padding: 'same' as const, useBias: false },
      { filters: 4, kernelSize: 2, strides: 2, padding: 'valid' as const, useBias: true },
      { filters: 3, kernelSize: 3, strides: 2, padding: 'same' as const, useBias: true },
    ]) {
      const ours = conv2dLayer({ ...args, kernelInitializer: 'glorotUniform' });
      const stock = tfl.layers.conv2d({ ...args, kernelInitializer: 'glorotUniform' });
      ours.build([2, 9, 8, 3]);
      stock.build([2, 9, 8, 3]);
      stock.setWeights(ours.getWeights());
      const x = tf.randomNormal([2, 9, 8, 3], 0, 1, 'float32', 3);
      const grads = (layer: tfl.layers.Layer) => {
        const variables = layer.trainableWeights.map((w) => w.read() as tf.Variable);
        const { value, grads: byName } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(x) as tf.Tensor)) as tf.Scalar, variables);
        return [value, ...variables.map((v) => byName[v.name])];
      };
      const [a, b] = [grads(ours), grads(stock)];
      a.forEach((t, i) =>
        expect(tf.max(tf.abs(tf.sub(t, b[i]))).dataSync()[0]).toBeLessThan(1e-3 * Math.max(1, tf.max(tf.abs(b[i])).dataSync()[0])),
      );
      expect(ours.getClassName()).toBe('Conv2D');
      tf.dispose([x, ...a, ...b]);
    }
  });

  it("an encoder's training step computes no gradient for the input images", async () => {
    const encoder = createEncoder({ kind: 'cnn', inputShape: [12, 12, 1], channels: [4, 8], batchNorm: true, seed: 1 });
    const images = tf.randomUniform([3, 12, 12, 1]) as tf.Tensor4D;
    const variables = encoder.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const profile = await tf.profile(() => {
      const { value, grads } = variableGrads(() => tf.mean(encoder.features(images, { training: true })) as tf.Scalar, variables);
      tf.dispose([value, ...Object.values(grads)]);
    });
    // Two convs: the second needs its input gradient (the first conv's output), the first does not.
    expect(profile.kernels.filter((k) => k.name === 'Conv2DBackpropFilter')).toHaveLength(2);
    expect(profile.kernels.filter((k) => k.name === 'Conv2DBackpropInput')).toHaveLength(1);
    images.dispose();
    encoder.model.dispose();
  });
});
