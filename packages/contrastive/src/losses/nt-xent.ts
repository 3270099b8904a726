import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { l2Normalize, requireFloat, requireNonEmpty, requirePositive, requireRank, requireSameShape } from '@ssl/core';

export interface NtXentOptions {
  /** Softmax temperature τ > 0 (SimCLR uses 0.1 to 0.5; 0.5 for CIFAR-10 in the paper). */
  temperature: number;
}

/**
 * Added to each anchor's similarity with itself so it drops out of the softmax; the value of SimCLR's
 * LARGE_NUM. exp(-1e9) is exactly 0 in float32, so this equals removing the entry.
 */
const SELF_SIMILARITY_PENALTY = 1e9;

/**
 * NT-Xent (normalized temperature-scaled cross-entropy), SimCLR eq. 1 (Chen et al. 2020).
 *
 * `z1[i]` and `z2[i]` are the projections of two views of sample i. Every one of the 2N rows is an anchor;
 * its logits are the cosine similarities / τ to the other 2N − 1 rows (itself excluded, the positive
 * included in the denominator), and its target is the other view of the same sample. The result is the
 * mean cross-entropy over all 2N anchors, i.e. the paper's L = 1/(2N) Σ_k [ℓ(2k−1, 2k) + ℓ(2k, 2k−1)].
 *
 * Note: google-research/simclr's `add_contrastive_loss` returns loss_a + loss_b (two means over N), which
 * is exactly 2× this value; gradients differ by the same factor.
 *
 * Symmetric in (z1, z2) and invariant to positive rescaling of either input (rows are L2-normalized).
 *
 * @param z1 [N, D] projections of the first views.
 * @param z2 [N, D] projections of the second views, row-aligned with `z1`.
 * @returns scalar loss.
 */
export function ntXentLoss(z1: Tensor2D, z2: Tensor2D, options: NtXentOptions): Scalar {
  requireRank('z1', z1, 2, '[N, D]');
  requireRank('z2', z2, 2, '[N, D]');
  requireSameShape('z1', z1, 'z2', z2, 'row i of both holds the two views of sample i');
  requireNonEmpty('z1', z1);
  requireFloat('z1', z1);
  requireFloat('z2', z2);
  requirePositive('temperature', options?.temperature);
  const { temperature } = options;
  const batchSize = z1.shape[0];

  return tf.tidy(() => {
    const views = l2Normalize(tf.concat([z1, z2], 0)); // [2N, D], rows 0..N-1 view 1, N..2N-1 view 2
    // sim(u, v) / τ for every ordered pair of the 2N rows, SimCLR eq. 1's exp argument.
    const logits = tf.sub(
      tf.div(tf.matMul(views, views, false, true), temperature),
      tf.mul(tf.eye(2 * batchSize), SELF_SIMILARITY_PENALTY),
    );
    // The positive of row i is row i ± N; its logit is the same for both anchors of a pair.
    const positivePair = tf.div(tf.sum(tf.mul(l2Normalize(z1), l2Normalize(z2)), 1), temperature); // [N]
    const positiveLogits = tf.concat([positivePair, positivePair], 0); // [2N]
    // ℓ(i, j) = −log softmax_j = logsumexp_k≠i − sim(i, j)/τ
    const perAnchor = tf.sub(tf.logSumExp(logits, 1), positiveLogits);
    return tf.mean(perAnchor) as Scalar;
  });
}
