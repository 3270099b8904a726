import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { SslError, requireFloat, requireRank, requireSameShape } from '@ssl/core';

/**
 * SimMIM's loss (Xie et al. 2022, Sec. 3.4): the L1 distance between predicted and true pixels of the
 * masked patches only, averaged over the masked pixel values — `(|x − y| · M).sum() / M.sum()` over pixels
 * in the reference code, which equals this with the patch mask repeated over a patch's p·p·C values.
 * `prediction` and `target` [N, L, p·p·C]; `mask` [N, L], 1 = masked.
 */
export function simmimLoss(prediction: Tensor3D, target: Tensor3D, mask: Tensor2D): Scalar {
  requireRank('prediction', prediction, 3, '[N, L, p·p·C]');
  requireFloat('prediction', prediction);
  requireSameShape('prediction', prediction, 'target', target, 'one prediction per target patch value');
  requireRank('mask', mask, 2, '[N, L]');
  if (mask.shape[0] !== target.shape[0] || mask.shape[1] !== target.shape[1]) {
    throw new SslError(
      'shape-mismatch',
      `simmimLoss: mask [${mask.shape.join(', ')}] must be [N, L] of target [${target.shape.join(', ')}].`,
    );
  }
  return tf.tidy(() => {
    const perPatch = tf.sum(tf.abs(tf.sub(prediction, target)), 2);
    const values = target.shape[2];
    // The small epsilon of the reference (1e-5) keeps an all-visible batch at 0 instead of NaN.
    return tf.div(tf.sum(tf.mul(perPatch, mask)), tf.add(tf.mul(tf.sum(mask), values), 1e-5)) as Scalar;
  });
}
