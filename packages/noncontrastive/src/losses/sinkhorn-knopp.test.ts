import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { sinkhornKnopp } from './sinkhorn-knopp';
import { Random, expectClose, expectNoLeak, expectSslError, randomValues, useCpuBackend } from '@ssl/test-utils';

/** SwAV's distributed_sinkhorn (one process) transcribed with loops on the K×B matrix, float64. */
function referenceSinkhorn(
  scores: ArrayLike<number>,
  batch: number,
  prototypes: number,
  epsilon: number,
  iterations: number,
): Float64Array {
  // q[k][b], as the reference transposes to K-by-B.
  const q = Array.from({ length: prototypes }, (_, k) =>
    Array.from({ length: batch }, (_, b) => Math.exp(scores[b * prototypes + k] / epsilon)),
  );
  let total = 0;
  for (const row of q) for (const v of row) total += v;
  for (const row of q) for (let b = 0; b < batch; b++) row[b] /= total;
  for (let it = 0; it < iterations; it++) {
    for (const row of q) {
      const rowSum = row.reduce((a, v) => a + v, 0);
      for (let b = 0; b < batch; b++) row[b] = row[b] / rowSum / prototypes;
    }
    for (let b = 0; b < batch; b++) {
      let columnSum = 0;
      for (let k = 0; k < prototypes; k++) columnSum += q[k][b];
      for (let k = 0; k < prototypes; k++) q[k][b] = q[k][b] / columnSum / batch;
    }
  }
  const codes = new Float64Array(batch * prototypes);
  for (let b = 0; b < batch; b++) for (let k = 0; k < prototypes; k++) codes[b * prototypes + k] = q[k][b] * batch;
  return codes;
}

describe('sinkhornKnopp', () => {
  beforeAll(useCpuBackend);
  const batch = 6;
  const prototypes = 3;
  const rng = new Random(29);
  // Cosine-like scores in [-1, 1], as SwAV feeds it.
  const scoreValues = randomValues(rng, batch * prototypes, 0.5).map((v) => Math.max(-1, Math.min(1, v)));
  const codes = (scores: ArrayLike<number>, options?: { epsilon?: number; iterations?: number }) =>
    tf.tidy(() => sinkhornKnopp(tf.tensor2d(Float32Array.from(scores), [batch, prototypes]), options).dataSync());

  it('equals the reference with the SwAV defaults (ε = 0.05, 3 iterations) and other settings', () => {
    expectClose(codes(scoreValues), referenceSinkhorn(scoreValues, batch, prototypes, 0.05, 3), { absolute: 1e-6, relative: 1e-4 });
    expectClose(codes(scoreValues, { epsilon: 0.5, iterations: 1 }), referenceSinkhorn(scoreValues, batch, prototypes, 0.5, 1), {
      absolute: 1e-6,
      relative: 1e-4,
    });
  });

  it('returns codes whose rows sum to 1 and whose columns approach B/K (equipartition)', () => {
    const result = codes(scoreValues, { epsilon: 0.3, iterations: 50 });
    for (let b = 0; b < batch; b++) {
      expectClose(result[b * prototypes] + result[b * prototypes + 1] + result[b * prototypes + 2], 1, { absolute: 1e-5 });
    }
    for (let k = 0; k < prototypes; k++) {
      let column = 0;
      for (let b = 0; b < batch; b++) column += result[b * prototypes + k];
      expectClose(column, batch / prototypes, { absolute: 1e-3 });
    }
  });

  it('does not overflow on large scores and is unchanged by a constant shift', () => {
    // exp((s + 50) / 0.05) = exp(1000) overflows without the max subtraction.
    const shifted = codes(scoreValues.map((v) => v + 50));
    expect(Array.from(shifted).every(Number.isFinite)).toBe(true);
    expectClose(shifted, codes(scoreValues), { absolute: 1e-4, relative: 1e-3 });
  });

  it('carries no gradient (the codes are targets)', () => {
    const gradient = tf.tidy(() =>
      tf
        .grad((scores: tf.Tensor) =>
          tf.sum(tf.mul(sinkhornKnopp(scores as tf.Tensor2D), tf.reshape(tf.range(0, batch * prototypes), [batch, prototypes]))),
        )(tf.tensor2d(scoreValues, [batch, prototypes]))
        .dataSync(),
    );
    expect(Array.from(gradient).every((g) => g === 0)).toBe(true);
  });

  it('leaves no tensors behind', () => {
    const scores = tf.tensor2d(scoreValues, [batch, prototypes]);
    expectNoLeak(() => sinkhornKnopp(scores, { iterations: 5 }));
    scores.dispose();
  });

  it('rejects bad shapes and options with SslError', () => {
    const scores = tf.zeros([batch, prototypes]) as tf.Tensor2D;
    const rank1 = tf.zeros([batch]);
    expectSslError(() => sinkhornKnopp(rank1 as unknown as tf.Tensor2D), 'shape-mismatch');
    expect(expectSslError(() => sinkhornKnopp(scores, { epsilon: 0 }), 'invalid-config')).toContain('epsilon');
    expect(expectSslError(() => sinkhornKnopp(scores, { iterations: 1.5 }), 'invalid-config')).toContain('iterations');
    expectSslError(() => sinkhornKnopp(scores, { iterations: 0 }), 'invalid-config');
    tf.dispose([scores, rank1]);
  });
});
