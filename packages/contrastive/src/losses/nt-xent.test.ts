import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ntXentLoss } from './nt-xent';
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

/** SimCLR eq. 1 written out with loops over the 2N rows, in float64. */
function referenceNtXent(z1: ArrayLike<number>, z2: ArrayLike<number>, n: number, d: number, temperature: number): number {
  const rows: number[][] = [];
  for (let r = 0; r < 2 * n; r++) {
    const source = r < n ? z1 : z2;
    const offset = (r % n) * d;
    let squaredNorm = 0;
    for (let c = 0; c < d; c++) squaredNorm += source[offset + c] ** 2;
    const norm = Math.sqrt(Math.max(squaredNorm, 1e-12));
    const row: number[] = [];
    for (let c = 0; c < d; c++) row.push(source[offset + c] / norm);
    rows.push(row);
  }
  const similarity = (a: number, b: number) => {
    let dot = 0;
    for (let c = 0; c < d; c++) dot += rows[a][c] * rows[b][c];
    return dot / temperature;
  };
  let total = 0;
  for (let anchor = 0; anchor < 2 * n; anchor++) {
    const positive = anchor < n ? anchor + n : anchor - n;
    let denominator = 0;
    for (let other = 0; other < 2 * n; other++) if (other !== anchor) denominator += Math.exp(similarity(anchor, other));
    total += Math.log(denominator) - similarity(anchor, positive);
  }
  return total / (2 * n);
}

describe('ntXentLoss', () => {
  beforeAll(useCpuBackend);
  const n = 4;
  const d = 3;
  const rng = new Random(7);
  const z1Values = randomValues(rng, n * d);
  const z2Values = randomValues(rng, n * d);
  const loss = (a: Float32Array, b: Float32Array, temperature: number) =>
    tf.tidy(() => ntXentLoss(tf.tensor2d(a, [n, d]), tf.tensor2d(b, [n, d]), { temperature }).dataSync()[0]);

  it('equals the plain-loop SimCLR eq. 1 for several temperatures', () => {
    for (const temperature of [0.1, 0.5, 2]) {
      expectClose(loss(z1Values, z2Values, temperature), referenceNtXent(z1Values, z2Values, n, d, temperature), { relative: 1e-5 });
    }
  });

  it('includes the positive in the denominator and excludes self (closed form on orthonormal rows)', () => {
    // z1 = z2 = I₃: positive similarity 1, the 2N − 2 negatives 0, self excluded.
    // ℓ = log(e^{1/τ} + 2N − 2) − 1/τ for every anchor.
    const identity = tf.eye(3) as tf.Tensor2D;
    const value = ntXentLoss(identity, identity, { temperature: 0.5 });
    expectClose(value.dataSync()[0], Math.log(Math.exp(2) + 4) - 2, { relative: 1e-6 });
    tf.dispose([identity, value]);
  });

  it('has the gradient of the reference (central differences) for both inputs', () => {
    const temperature = 0.5;
    const [gradZ1, gradZ2] = tf.tidy(() => {
      const gradients = tf.grads((a: tf.Tensor, b: tf.Tensor) => ntXentLoss(a as tf.Tensor2D, b as tf.Tensor2D, { temperature }))([
        tf.tensor2d(z1Values, [n, d]),
        tf.tensor2d(z2Values, [n, d]),
      ]);
      return gradients.map((g) => g.dataSync());
    });
    const [expectedZ1, expectedZ2] = numericGradient(([a, b]) => referenceNtXent(a, b, n, d, temperature), [z1Values, z2Values]);
    expectClose(gradZ1, expectedZ1, { absolute: 2e-5, relative: 1e-3 });
    expectClose(gradZ2, expectedZ2, { absolute: 2e-5, relative: 1e-3 });
  });

  it('is symmetric in the two views', () => {
    expectClose(loss(z1Values, z2Values, 0.2), loss(z2Values, z1Values, 0.2), { relative: 1e-6 });
  });

  it('is invariant to positive rescaling of either input', () => {
    const scaled1 = z1Values.map((v) => v * 7.5);
    const scaled2 = z2Values.map((v) => v * 0.03);
    expectClose(loss(scaled1, scaled2, 0.2), loss(z1Values, z2Values, 0.2), { relative: 1e-5 });
  });

  it('is lowered by a few SGD steps on the projections', () => {
    const z1 = tf.variable(tf.tensor2d(z1Values, [n, d]));
    const z2 = tf.variable(tf.tensor2d(z2Values, [n, d]));
    const { before, after } = lossBeforeAndAfter(() => ntXentLoss(z1, z2, { temperature: 0.5 }), [z1, z2], tf.train.sgd(0.5), 10);
    expect(after).toBeLessThan(before - 0.05);
    tf.dispose([z1, z2]);
  });

  it('leaves no tensors behind (value and gradient)', () => {
    const z1 = tf.tensor2d(z1Values, [n, d]);
    const z2 = tf.tensor2d(z2Values, [n, d]);
    expectNoLeak(() => ntXentLoss(z1, z2, { temperature: 0.5 }));
    expectNoLeak(() => tf.grads((a: tf.Tensor) => ntXentLoss(a as tf.Tensor2D, z2, { temperature: 0.5 }))([z1]));
    tf.dispose([z1, z2]);
  });

  it('rejects bad shapes, dtypes and temperatures with SslError', () => {
    const a = tf.zeros([4, 3]) as tf.Tensor2D;
    const b = tf.zeros([5, 3]) as tf.Tensor2D;
    const rank3 = tf.zeros([4, 3, 1]);
    const ints = tf.zeros([4, 3], 'int32') as tf.Tensor2D;
    expect(expectSslError(() => ntXentLoss(a, b, { temperature: 0.5 }), 'shape-mismatch')).toContain('[4, 3]');
    expect(expectSslError(() => ntXentLoss(rank3 as unknown as tf.Tensor2D, a, { temperature: 0.5 }), 'shape-mismatch')).toContain(
      '[4, 3, 1]',
    );
    expectSslError(() => ntXentLoss(ints, a, { temperature: 0.5 }), 'dtype-mismatch');
    for (const temperature of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(expectSslError(() => ntXentLoss(a, a, { temperature }), 'invalid-config')).toContain('temperature');
    }
    tf.dispose([a, b, rank3, ints]);
  });
});
