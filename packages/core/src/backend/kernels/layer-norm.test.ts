// kernels.c's layer norm (SslLayerNormForward/Backward) on wasm against core's `layerNorm` composed of tfjs
// ops on the cpu backend: values and the gradients of x, γ and β. The backend is chosen by initBackend(), so on
// a machine with two cores the larger cases are split between two threads.
import '../../setup';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { fusedLayerNorm, layerNorm } from '../../nn/layers/common';
import { initBackend } from '../select';
import { expectMatchesCpu, randomHost } from './cpu-comparison';
import { LAYER_NORM_FORWARD, fusedLayerNormAvailable } from './layer-norm';

const EPSILON = 1e-5;

/** The fused kernels on wasm, core's composed layerNorm elsewhere (the reference on cpu): what `layerNorm` dispatches to. */
function layerNormHere(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  return tf.getBackend() === 'wasm' ? fusedLayerNorm(x, gamma, beta, EPSILON) : layerNorm(x, gamma, beta, EPSILON);
}

beforeAll(async () => {
  // The default thread count (vitest.config pins SSL_THREADS=1 for the other files), so the helper thread runs.
  delete process.env.SSL_THREADS;
  await initBackend({ backend: 'wasm', log: () => {} });
  await tf.ready();
});

describe('fused layer norm on wasm (kernels.c) matches the composed layerNorm on cpu', () => {
  it('runs on this backend', () => {
    expect(fusedLayerNormAvailable()).toBe(true);
  });

  // Widths with and without a SIMD tail (7, 130); rows from 1 to enough for the helper thread (40·12·128 values);
  // a row of equal values (σ = √ε: x̂ = 0).
  const cases: Array<{ shape: number[]; label: string }> = [
    { shape: [1, 4], label: 'one row of 4' },
    { shape: [5, 7], label: '5 rows of 7 (scalar tail)' },
    { shape: [3, 9, 130], label: '[3, 9, 130] (tail 2; columns split 64 | 66)' },
    { shape: [40, 12, 128], label: "[40, 12, 128] (an MAE encoder block's tokens, two threads)" },
  ];
  for (const { shape, label } of cases) {
    it(`${label}: values and the gradients of x, γ and β`, async () => {
      const width = shape[shape.length - 1];
      const x = randomHost(shape, width + shape.length);
      if (shape[0] === 5) x.values.fill(0.25, 0, width); // a constant row
      const gamma = randomHost([width], 2);
      const beta = randomHost([width], 3);
      await expectMatchesCpu(label, layerNormHere, [x, gamma, beta]);
    });
  }

  it('leaves no tensor behind, and names γ of the wrong size', () => {
    const x = tf.randomNormal([6, 16]);
    const gamma = tf.ones([16]);
    const beta = tf.zeros([16]);
    const before = tf.memory().numTensors;
    tf.dispose(
      tf.tidy(() => tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(fusedLayerNorm(a, g, b, EPSILON)))([x, gamma, beta])),
    );
    expect(tf.memory().numTensors).toBe(before);
    const short = tf.ones([8]);
    expect(() => tf.engine().runKernel(LAYER_NORM_FORWARD, { x, gamma: short, beta }, { epsilon: EPSILON })).toThrow(
      /one value per feature/,
    );
    tf.dispose([x, gamma, beta, short]);
  });
});
