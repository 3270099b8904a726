import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { l2Normalize, requireFloat, requireNonEmpty, requireRank, requireSameShape } from '@ssl/core';

/**
 * SimSiam's D(p, z) = −(p/‖p‖₂)·(z/‖z‖₂), averaged over the batch (Chen & He 2021, eq. 1).
 *
 * Stop-gradient is the caller's job: SimSiam's eq. 3 uses D(p₁, stopgrad(z₂)), and without it the method
 * collapses (the paper's Sec. 4.1). Pass a `z` that carries no gradient — computed outside the gradient
 * function, or passed through an identity with zero gradient (tf.customGrad). This function lets gradients
 * flow into both arguments. The symmetric loss is ½D(p₁, sg(z₂)) + ½D(p₂, sg(z₁)).
 *
 * @param p [N, D] predictor outputs.
 * @param z [N, D] targets (projections of the other view), row-aligned with `p`.
 * @returns scalar in [−1, 1]; −1 when every p_i points the same way as z_i.
 */
export function negativeCosineSimilarity(p: Tensor2D, z: Tensor2D): Scalar {
  requireRank('p', p, 2, '[N, D]');
  requireRank('z', z, 2, '[N, D]');
  requireSameShape('p', p, 'z', z, 'row i of z is the target of prediction i');
  requireNonEmpty('p', p);
  requireFloat('p', p);
  requireFloat('z', z);
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(l2Normalize(p), l2Normalize(z)), 1))) as Scalar);
}
