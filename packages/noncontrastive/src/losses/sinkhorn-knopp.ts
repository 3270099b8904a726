import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, formatValue, stopGradient, requireFloat, requireNonEmpty, requirePositive, requireRank } from '@ssl/core';

export interface SinkhornKnoppOptions {
  /** ε, entropy regularization: codes ∝ exp(scores / ε); the paper's 0.05. */
  epsilon?: number;
  /** Number of row/column normalization rounds; the paper's 3. */
  iterations?: number;
}

/**
 * SwAV's Sinkhorn-Knopp codes (Caron et al. 2020, eq. 3 and `distributed_sinkhorn` in the reference code,
 * single process): Q = exp(scores / ε), then `iterations` rounds of "every prototype gets mass 1/K" and
 * "every sample gets mass 1/B", finally scaled so each sample's code sums to 1.
 *
 * The global maximum is subtracted before the exponential; that scales Q by a constant which the first
 * normalization removes, so the result equals the reference while exp(scores/ε) cannot overflow.
 * The codes are targets: they carry no gradient (the reference runs under torch.no_grad()).
 *
 * @param scores [B, K] prototype scores (cosine similarities in SwAV).
 * @returns [B, K] soft assignments; rows sum to 1, columns approach B/K as iterations grow.
 */
export function sinkhornKnopp(scores: Tensor2D, options: SinkhornKnoppOptions = {}): Tensor2D {
  requireRank('scores', scores, 2, '[B, K]');
  requireNonEmpty('scores', scores);
  requireFloat('scores', scores);
  const epsilon = options.epsilon ?? 0.05;
  const iterations = options.iterations ?? 3;
  requirePositive('epsilon', epsilon);
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw new SslError('invalid-config', `Invalid config value iterations = ${formatValue(iterations)}: expected an integer ≥ 1.`, {
      details: { field: 'iterations', value: iterations },
    });
  }
  const [batchSize, prototypes] = scores.shape;

  return tf.tidy(() => {
    const detached = stopGradient(scores);
    let codes = tf.exp(tf.div(tf.sub(detached, tf.max(detached)), epsilon)) as Tensor2D;
    codes = tf.div(codes, tf.sum(codes));
    for (let round = 0; round < iterations; round++) {
      // Each prototype (column) gets total mass 1/K ...
      codes = tf.div(codes, tf.mul(tf.sum(codes, 0, true), prototypes));
      // ... then each sample (row) total mass 1/B.
      codes = tf.div(codes, tf.mul(tf.sum(codes, 1, true), batchSize));
    }
    return tf.mul(codes, batchSize) as Tensor2D;
  });
}
