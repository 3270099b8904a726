// The SIMD Erf on wasm (kernels.c's erf_f32) against the cpu backend: values and gradients, alone and inside
// core's exact GELU. The backend is chosen by initBackend(), so on a machine with two cores the large case is
// split between two threads.
import '../../setup';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { gelu } from '../../nn/layers/common';
import { initBackend } from '../select';
import { expectMatchesCpu, randomHost } from './cpu-comparison';

beforeAll(async () => {
  // The default thread count (vitest.config pins SSL_THREADS=1 for the other files), so the helper thread runs.
  delete process.env.SSL_THREADS;
  await initBackend({ backend: 'wasm', log: () => {} });
  await tf.ready();
});

/** n values spread over [−6, 6] (erf saturates past ±4), 0 included. */
function ramp(n: number): { shape: number[]; values: Float32Array } {
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = -6 + (12 * i) / (n - 1);
  values[n >> 1] = 0;
  return { shape: [n], values };
}

describe('erf on wasm (kernels.c) matches cpu', () => {
  it('over [−6, 6] with a scalar tail (n = 4k + 3), and 3·33 335 values for the two-thread split: values and gradients', async () => {
    await expectMatchesCpu('erf ramp', (x) => tf.erf(x), [ramp(4099)]);
    await expectMatchesCpu('erf normal', (x) => tf.erf(x), [randomHost([3, 33_335], 1)]);
  });

  it('is odd, exact at 0, saturates to ±1, and keeps NaN', () => {
    const values = tf.tidy(() => tf.erf(tf.tensor1d([0, 0.5, -0.5, 8, -8, Number.NaN])).dataSync());
    expect(values[0]).toBeCloseTo(0, 6);
    expect(values[1]).toBeCloseTo(0.5204999, 6);
    expect(values[2]).toBe(-values[1]);
    expect([values[3], values[4]]).toEqual([1, -1]);
    expect(Number.isNaN(values[5])).toBe(true);
  });

  it("inside core's exact GELU (x·Φ(x)) over a ViT MLP's activations: values and gradient", async () => {
    await expectMatchesCpu('gelu', (x) => gelu(x), [randomHost([8, 50, 512], 2)]);
  });
});
