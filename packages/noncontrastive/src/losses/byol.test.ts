import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { byolLoss } from './byol';
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

/** mean_i ‖p̂_i − ẑ_i‖² with loops, float64 (BYOL eq. 2 before the 2 − 2cos simplification). */
function referenceByol(p: ArrayLike<number>, z: ArrayLike<number>, n: number, d: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    let pSquared = 0;
    let zSquared = 0;
    for (let c = 0; c < d; c++) {
      pSquared += p[i * d + c] ** 2;
      zSquared += z[i * d + c] ** 2;
    }
    const pNorm = Math.sqrt(Math.max(pSquared, 1e-12));
    const zNorm = Math.sqrt(Math.max(zSquared, 1e-12));
    for (let c = 0; c < d; c++) total += (p[i * d + c] / pNorm - z[i * d + c] / zNorm) ** 2;
  }
  return total / n;
}

describe('byolLoss', () => {
  beforeAll(useCpuBackend);
  const n = 3;
  const d = 6;
  const rng = new Random(5);
  const pValues = randomValues(rng, n * d);
  const zValues = randomValues(rng, n * d);
  const loss = (p: ArrayLike<number>, z: ArrayLike<number>, rows = n, cols = d) =>
    tf.tidy(() => byolLoss(tf.tensor2d(Float32Array.from(p), [rows, cols]), tf.tensor2d(Float32Array.from(z), [rows, cols])).dataSync()[0]);

  it('equals the plain-loop squared distance of the normalized vectors', () => {
    expectClose(loss(pValues, zValues), referenceByol(pValues, zValues, n, d), { relative: 1e-5 });
  });

  it('is 0 for aligned, 2 for orthogonal and 4 for opposite vectors; symmetric and scale-invariant', () => {
    expectClose(loss([1, 0, 2, 0], [3, 0, 6, 0], 2, 2), 0, { absolute: 1e-6 });
    expectClose(loss([1, 0, 0, 1], [0, 5, 2, 0], 2, 2), 2, { absolute: 1e-6 });
    expectClose(loss([1, 1, 0, 2], [-2, -2, 0, -1], 2, 2), 4, { absolute: 1e-6 });
    expectClose(loss(zValues, pValues), loss(pValues, zValues), { relative: 1e-6 });
    expectClose(
      loss(
        pValues.map((v) => v * 0.01),
        zValues.map((v) => v * 40),
      ),
      loss(pValues, zValues),
      { relative: 1e-5 },
    );
  });

  it('has the gradient of the reference for both inputs', () => {
    const gradients = tf.tidy(() =>
      tf
        .grads((p: tf.Tensor, z: tf.Tensor) => byolLoss(p as tf.Tensor2D, z as tf.Tensor2D))([
          tf.tensor2d(pValues, [n, d]),
          tf.tensor2d(zValues, [n, d]),
        ])
        .map((g) => g.dataSync()),
    );
    const expected = numericGradient(([p, z]) => referenceByol(p, z, n, d), [pValues, zValues]);
    expectClose(gradients[0], expected[0], { absolute: 1e-5, relative: 1e-3 });
    expectClose(gradients[1], expected[1], { absolute: 1e-5, relative: 1e-3 });
  });

  it('is lowered by a few Adam steps on the predictions', () => {
    const p = tf.variable(tf.tensor2d(pValues, [n, d]));
    const z = tf.tensor2d(zValues, [n, d]);
    const { before, after } = lossBeforeAndAfter(() => byolLoss(p, z), [p], tf.train.adam(0.1), 10);
    expect(after).toBeLessThan(before - 0.2);
    tf.dispose([p, z]);
  });

  it('leaves no tensors behind', () => {
    const p = tf.tensor2d(pValues, [n, d]);
    const z = tf.tensor2d(zValues, [n, d]);
    expectNoLeak(() => byolLoss(p, z));
    expectNoLeak(() => tf.grads((x: tf.Tensor) => byolLoss(x as tf.Tensor2D, z))([p]));
    tf.dispose([p, z]);
  });

  it('rejects mismatched shapes with SslError', () => {
    const p = tf.zeros([3, 6]) as tf.Tensor2D;
    const z = tf.zeros([2, 6]) as tf.Tensor2D;
    expect(expectSslError(() => byolLoss(p, z), 'shape-mismatch')).toContain('[2, 6]');
    expectSslError(() => byolLoss(tf.zeros([0, 6]) as tf.Tensor2D, tf.zeros([0, 6]) as tf.Tensor2D), 'shape-mismatch');
    tf.dispose([p, z]);
  });
});
