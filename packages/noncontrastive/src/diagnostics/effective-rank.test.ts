import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { effectiveRank } from './effective-rank';
import { Random, expectClose, expectNoLeak, randomValues, useCpuBackend } from '@ssl/test-utils';

/** (tr C)² / ‖C‖_F² of the covariance of the L2-normalized rows, in plain loops, float64. */
function referenceRank(values: ArrayLike<number>, rows: number, dims: number): number {
  const x = Array.from({ length: rows }, (_, r) => {
    const row = Array.from({ length: dims }, (_, d) => values[r * dims + d]);
    const norm = Math.sqrt(row.reduce((a, v) => a + v * v, 0));
    return row.map((v) => v / norm);
  });
  const mean = Array.from({ length: dims }, (_, d) => x.reduce((a, row) => a + row[d], 0) / rows);
  let trace = 0;
  let frobenius = 0;
  for (let i = 0; i < dims; i++) {
    for (let j = 0; j < dims; j++) {
      let c = 0;
      for (const row of x) c += ((row[i] - mean[i]) * (row[j] - mean[j])) / rows;
      if (i === j) trace += c;
      frobenius += c * c;
    }
  }
  return (trace * trace) / frobenius;
}

describe('effectiveRank', () => {
  beforeAll(useCpuBackend);

  it('equals the plain-loop participation ratio', () => {
    const values = randomValues(new Random(5), 12 * 6);
    const value = tf.tidy(() => effectiveRank(tf.tensor2d(values, [12, 6])).dataSync()[0]);
    expectClose(value, referenceRank(values, 12, 6), { relative: 1e-4 });
    // More dimensions than rows: computed through the N × N Gram matrix, same value.
    const wide = randomValues(new Random(6), 5 * 9);
    const wideValue = tf.tidy(() => effectiveRank(tf.tensor2d(wide, [5, 9])).dataSync()[0]);
    expectClose(wideValue, referenceRank(wide, 5, 9), { relative: 1e-4 });
  });

  it('is near d for isotropic embeddings, 1 for a rank-one batch and 0 for a constant one', () => {
    const [isotropic, rankOne, constant] = tf.tidy(() => {
      const spread = tf.randomNormal([4000, 8], 0, 1, 'float32', 3) as tf.Tensor2D;
      // Rows e₁ + a·𝟙 with a small: after normalization they vary along (nearly) one direction.
      const line = tf.add(
        tf.matMul(tf.randomNormal([500, 1], 0, 0.1, 'float32', 4), tf.ones([1, 8])),
        tf.tensor2d([[1, 0, 0, 0, 0, 0, 0, 0]]),
      );
      return [effectiveRank(spread), effectiveRank(line as tf.Tensor2D), effectiveRank(tf.ones([16, 8]) as tf.Tensor2D)].map(
        (t) => t.dataSync()[0],
      );
    });
    expect(isotropic).toBeGreaterThan(7.5);
    expect(rankOne).toBeLessThan(1.5);
    expect(constant).toBe(0);
  });

  it('leaves no tensors behind', () => {
    const x = tf.randomNormal([8, 4]) as tf.Tensor2D;
    expectNoLeak(() => effectiveRank(x));
    x.dispose();
  });
});
