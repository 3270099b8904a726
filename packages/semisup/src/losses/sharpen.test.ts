import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { sharpen } from './sharpen';
import { Random, expectClose, expectNoLeak, expectSslError, numericGradient, useCpuBackend } from '@ssl/test-utils';

/** MixMatch eq. 7 literally: p^(1/T) / Σ p^(1/T), float64. */
function referenceSharpen(p: ArrayLike<number>, n: number, k: number, temperature: number): Float64Array {
  const out = new Float64Array(n * k);
  for (let b = 0; b < n; b++) {
    let sum = 0;
    for (let c = 0; c < k; c++) sum += p[b * k + c] ** (1 / temperature);
    for (let c = 0; c < k; c++) out[b * k + c] = p[b * k + c] ** (1 / temperature) / sum;
  }
  return out;
}

describe('sharpen', () => {
  beforeAll(useCpuBackend);
  const [n, k] = [3, 4];
  const rng = new Random(47);
  const probabilityValues = new Float32Array(n * k);
  for (let b = 0; b < n; b++) {
    const row = Array.from({ length: k }, () => rng.uniform(0.05, 1));
    const sum = row.reduce((a, v) => a + v, 0);
    row.forEach((v, c) => (probabilityValues[b * k + c] = v / sum));
  }
  const run = (p: Float32Array, temperature: number, rows = n, cols = k) =>
    tf.tidy(() => sharpen(tf.tensor2d(p, [rows, cols]), temperature).dataSync());

  it('equals p^(1/T) renormalized (MixMatch eq. 7)', () => {
    for (const temperature of [0.5, 0.25, 2]) {
      expectClose(run(probabilityValues, temperature), referenceSharpen(probabilityValues, n, k, temperature), {
        absolute: 1e-6,
        relative: 1e-4,
      });
    }
  });

  it('is the identity at T = 1 and renormalizes unnormalized rows', () => {
    expectClose(run(probabilityValues, 1), probabilityValues, { absolute: 1e-6 });
    expectClose(run(new Float32Array([2, 6]), 1, 1, 2), [0.25, 0.75], { absolute: 1e-6 });
  });

  it('approaches one-hot as T → 0, without the 0/0 of the literal formula, and keeps zeros at zero', () => {
    const sharp = run(probabilityValues, 0.005);
    for (let b = 0; b < n; b++) {
      const row = Array.from(probabilityValues.slice(b * k, (b + 1) * k));
      const argmax = row.indexOf(Math.max(...row));
      for (let c = 0; c < k; c++) expectClose(sharp[b * k + c], c === argmax ? 1 : 0, { absolute: 1e-6 });
    }
    // 0.3^(1/0.01) underflows in float32, so the literal eq. 7 would give NaN here.
    expectClose(run(new Float32Array([0.3, 0.25, 0.45, 0]), 0.01, 1, 4), [0, 0, 1, 0], { absolute: 1e-6 });
    expect(run(new Float32Array([0, 0.5, 0.5]), 0.5, 1, 3)[0]).toBe(0);
  });

  it('has the gradient of the reference', () => {
    const temperature = 0.5;
    const weights = Float32Array.from({ length: n * k }, () => rng.normal());
    const gradient = tf.tidy(() =>
      tf
        .grad((p: tf.Tensor) => tf.sum(tf.mul(sharpen(p as tf.Tensor2D, temperature), tf.tensor2d(weights, [n, k]))))(
          tf.tensor2d(probabilityValues, [n, k]),
        )
        .dataSync(),
    );
    const [expected] = numericGradient(
      ([p]) => referenceSharpen(p, n, k, temperature).reduce((sum, value, index) => sum + value * weights[index], 0),
      [probabilityValues],
    );
    expectClose(gradient, expected, { absolute: 1e-4, relative: 1e-3 });
  });

  it('leaves no tensors behind', () => {
    const p = tf.tensor2d(probabilityValues, [n, k]);
    expectNoLeak(() => sharpen(p, 0.5));
    p.dispose();
  });

  it('rejects bad ranks and temperatures with SslError', () => {
    const p = tf.ones([2, 3]) as tf.Tensor2D;
    const rank1 = tf.ones([3]);
    expectSslError(() => sharpen(rank1 as unknown as tf.Tensor2D, 0.5), 'shape-mismatch');
    for (const temperature of [0, -0.5, Number.NaN]) expectSslError(() => sharpen(p, temperature), 'invalid-config');
    tf.dispose([p, rank1]);
  });
});
