import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { barlowTwinsLoss } from './barlow-twins';
import {
  Random,
  expectClose,
  expectNoLeak,
  expectSslError,
  lossBeforeAndAfter,
  numericGradient,
  randomValues,
  useCpuBackend,
} from '@ssl/test-utils';

/** Barlow Twins eq. 1–2 with loops, float64; standardization as an affine-free BatchNorm1d (biased var, ε=1e-5). */
function referenceBarlowTwins(z1: ArrayLike<number>, z2: ArrayLike<number>, n: number, d: number, lambda: number): number {
  const standardize = (z: ArrayLike<number>) => {
    const out = new Float64Array(n * d);
    for (let c = 0; c < d; c++) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += z[i * d + c] / n;
      let variance = 0;
      for (let i = 0; i < n; i++) variance += (z[i * d + c] - mean) ** 2 / n;
      for (let i = 0; i < n; i++) out[i * d + c] = (z[i * d + c] - mean) / Math.sqrt(variance + 1e-5);
    }
    return out;
  };
  const a = standardize(z1);
  const b = standardize(z2);
  let loss = 0;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let correlation = 0;
      for (let k = 0; k < n; k++) correlation += (a[k * d + i] * b[k * d + j]) / n;
      loss += i === j ? (1 - correlation) ** 2 : lambda * correlation ** 2;
    }
  }
  return loss;
}

describe('barlowTwinsLoss', () => {
  beforeAll(useCpuBackend);
  const n = 6;
  const d = 4;
  const rng = new Random(13);
  const z1Values = randomValues(rng, n * d);
  const z2Values = randomValues(rng, n * d);
  const loss = (a: ArrayLike<number>, b: ArrayLike<number>, lambda?: number) =>
    tf.tidy(
      () =>
        barlowTwinsLoss(
          tf.tensor2d(Float32Array.from(a), [n, d]),
          tf.tensor2d(Float32Array.from(b), [n, d]),
          lambda === undefined ? {} : { lambda },
        ).dataSync()[0],
    );

  it('equals the plain-loop reference, with λ = 5e-3 by default', () => {
    expectClose(loss(z1Values, z2Values), referenceBarlowTwins(z1Values, z2Values, n, d, 5e-3), { relative: 1e-5 });
    expectClose(loss(z1Values, z2Values, 0.5), referenceBarlowTwins(z1Values, z2Values, n, d, 0.5), { relative: 1e-5 });
  });

  it('is symmetric, and invariant to per-feature affine maps of the inputs (up to the BatchNorm ε)', () => {
    expectClose(loss(z2Values, z1Values, 0.1), loss(z1Values, z2Values, 0.1), { relative: 1e-5 });
    // Standardization removes per-feature shift and scale; scales are kept ≥ 1 so ε stays negligible.
    const affine = z1Values.map((v, index) => v * (2 + (index % d)) + 3 * (index % d));
    expectClose(loss(affine, z2Values, 0.1), loss(z1Values, z2Values, 0.1), { relative: 1e-4 });
  });

  it('is near 0 when both views are identical with decorrelated features', () => {
    // Zero-mean, mutually orthogonal ±1 columns: standardized they are uncorrelated, C = I/(1 + ε).
    const columns = [1, 1, 1, -1, 1, -1, 1, -1, -1, -1, -1, 1];
    const value = tf.tidy(() => {
      const z = tf.tensor2d(columns, [4, 3]);
      return barlowTwinsLoss(z, z).dataSync()[0];
    });
    expectClose(value, 3 * (1 - 1 / (1 + 1e-5)) ** 2, { absolute: 1e-6 });
    expect(value).toBeGreaterThanOrEqual(0);
  });

  it('has the gradient of the reference for both inputs', () => {
    const lambda = 0.2;
    const gradients = tf.tidy(() =>
      tf
        .grads((a: tf.Tensor, b: tf.Tensor) => barlowTwinsLoss(a as tf.Tensor2D, b as tf.Tensor2D, { lambda }))([
          tf.tensor2d(z1Values, [n, d]),
          tf.tensor2d(z2Values, [n, d]),
        ])
        .map((g) => g.dataSync()),
    );
    const expected = numericGradient(([a, b]) => referenceBarlowTwins(a, b, n, d, lambda), [z1Values, z2Values]);
    expectClose(gradients[0], expected[0], { absolute: 5e-5, relative: 2e-3 });
    expectClose(gradients[1], expected[1], { absolute: 5e-5, relative: 2e-3 });
  });

  it('is lowered by a few Adam steps', () => {
    const z1 = tf.variable(tf.tensor2d(z1Values, [n, d]));
    const z2 = tf.variable(tf.tensor2d(z2Values, [n, d]));
    const { before, after } = lossBeforeAndAfter(() => barlowTwinsLoss(z1, z2), [z1, z2], tf.train.adam(0.05), 10);
    expect(after).toBeLessThan(before * 0.9);
    tf.dispose([z1, z2]);
  });

  it('leaves no tensors behind', () => {
    const z1 = tf.tensor2d(z1Values, [n, d]);
    const z2 = tf.tensor2d(z2Values, [n, d]);
    expectNoLeak(() => barlowTwinsLoss(z1, z2));
    expectNoLeak(() => tf.grads((x: tf.Tensor) => barlowTwinsLoss(x as tf.Tensor2D, z2))([z1]));
    tf.dispose([z1, z2]);
  });

  it('rejects bad shapes and λ with SslError', () => {
    const z = tf.zeros([6, 4]) as tf.Tensor2D;
    const single = tf.zeros([1, 4]) as tf.Tensor2D;
    const other = tf.zeros([6, 3]) as tf.Tensor2D;
    expectSslError(() => barlowTwinsLoss(z, other), 'shape-mismatch');
    expect(expectSslError(() => barlowTwinsLoss(single, single), 'shape-mismatch')).toContain('N ≥ 2');
    expect(expectSslError(() => barlowTwinsLoss(z, z, { lambda: -1 }), 'invalid-config')).toContain('lambda');
    expectSslError(() => barlowTwinsLoss(z, z, { lambda: Number.NaN }), 'invalid-config');
    tf.dispose([z, single, other]);
  });
});
