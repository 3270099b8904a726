import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { l2Normalize, requireFloat, requireNonEmpty, requireRank, requireSameShape } from '@ssl/core';

/**
 * BYOL's regression loss (Grill et al. 2020, eq. 2): ‖p̄ − z̄‖₂² = 2 − 2·cos(p, z) with p̄, z̄ the
 * L2-normalized prediction and target projection, averaged over the batch (as the reference
 * `regression_loss` followed by a batch mean).
 *
 * Stop-gradient is the caller's job: `z` must be the target network's projection, which BYOL updates by
 * EMA, never by this gradient (the paper's sg(z′)). Compute it outside the gradient function or keep the
 * target variables out of the optimizer's var list. The symmetric BYOL loss is byolLoss(p₁, z₂) +
 * byolLoss(p₂, z₁) (eq. 2's L + L̃).
 *
 * @param p [N, D] online predictions.
 * @param z [N, D] target projections of the other view, row-aligned with `p`.
 * @returns scalar in [0, 4].
 */
export function byolLoss(p: Tensor2D, z: Tensor2D): Scalar {
  requireRank('p', p, 2, '[N, D]');
  requireRank('z', z, 2, '[N, D]');
  requireSameShape('p', p, 'z', z, 'row i of z is the target of prediction i');
  requireNonEmpty('p', p);
  requireFloat('p', p);
  requireFloat('z', z);
  return tf.tidy(() => {
    const cosine = tf.sum(tf.mul(l2Normalize(p), l2Normalize(z)), 1);
    return tf.mean(tf.sub(2, tf.mul(2, cosine))) as Scalar;
  });
}
