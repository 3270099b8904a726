import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Random, expectNoLeak, expectSslError, useCpuBackend } from '@ssl/test-utils';
import { corrupt, corruptionMask } from './corruption';
import { numKeptPatches } from './random-masking';

describe('corrupt (masking noise + Gaussian noise)', () => {
  beforeAll(useCpuBackend);

  it('zeroes exactly D − floor(D·(1 − ν)) components of every sample and leaves the others untouched', () => {
    for (const [shape, rate] of [
      [[3, 4, 4, 1], 0.25],
      [[2, 5, 3, 2], 0.5],
      [[4, 7], 0.3],
      [[2, 6], 0],
    ] as const) {
      const size = (shape as readonly number[]).reduce((a, b) => a * b, 1);
      const batch = shape[0];
      const components = size / batch;
      // Strictly positive inputs, so a zero in the output can only come from the masking.
      const values = Float32Array.from({ length: size }, (_, i) => 1 + (i % 13));
      const x = tf.tensor(values, [...shape]);
      const out = corrupt(x, { maskingRate: rate, gaussianStd: 0 }, 7);
      expect(out.shape).toEqual([...shape]);
      const result = out.dataSync();
      const zeroed = components - numKeptPatches(components, rate);
      // Plain-loop reference of the count: every sample has exactly `zeroed` zeros, the rest equal the input.
      for (let n = 0; n < batch; n++) {
        let zeros = 0;
        for (let j = 0; j < components; j++) {
          const k = n * components + j;
          if (result[k] === 0) zeros++;
          else expect(result[k]).toBe(values[k]);
        }
        expect(zeros).toBe(zeroed);
      }
      tf.dispose([x, out]);
    }
  });

  it('draws different masks per sample, the same for the same seed', () => {
    const x = tf.ones([8, 64]);
    const a = corrupt(x, { maskingRate: 0.5, gaussianStd: 0 }, new Random(3)).arraySync() as number[][];
    const b = corrupt(x, { maskingRate: 0.5, gaussianStd: 0 }, new Random(3)).arraySync() as number[][];
    const c = corrupt(x, { maskingRate: 0.5, gaussianStd: 0 }, new Random(4)).arraySync() as number[][];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(new Set(a.map((row) => row.join(''))).size).toBe(8);
    x.dispose();
  });

  it('adds zero-mean Gaussian noise of the requested standard deviation after the masking', () => {
    const x = tf.fill([4, 2500], 0.5);
    const out = corrupt(x, { maskingRate: 0.2, gaussianStd: 0.3 }, 11);
    const values = Array.from(out.dataSync());
    const mean = values.reduce((a, v) => a + v, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
    // E = 0.8·0.5 = 0.4; Var = 0.3² + Var(masked 0.5) = 0.09 + 0.25·0.2·0.8 = 0.13.
    expect(mean).toBeCloseTo(0.4, 2);
    expect(std).toBeCloseTo(Math.sqrt(0.13), 2);
    tf.dispose([x, out]);
  });

  it('marks J(x̃) where the corrupted input differs from the clean one, and is leak-free', () => {
    const clean = tf.tensor2d([[0, 1, 2, 0]]);
    const noisy = tf.tensor2d([[0, 0, 2, 0.5]]);
    expect(Array.from(corruptionMask(noisy, clean).dataSync())).toEqual([0, 1, 0, 1]);
    expectNoLeak(() => corrupt(clean, { maskingRate: 0.5, gaussianStd: 0.1 }, 1));
    expectNoLeak(() => corruptionMask(noisy, clean));
    expect(expectSslError(() => corrupt(clean, { maskingRate: 1, gaussianStd: 0 }, 1), 'invalid-config')).toContain('maskingRate');
    expect(expectSslError(() => corrupt(clean, { maskingRate: 0, gaussianStd: -1 }, 1), 'invalid-config')).toContain('gaussianStd');
    tf.dispose([clean, noisy]);
  });
});
