import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { invalidConfig, requireFloat, requireNonEmpty, requireSameShape } from '@ssl/core';

export interface DenoisingLossOptions {
  /** α: weight of the squared error on corrupted components; default 1. */
  readonly corruptedWeight?: number;
  /** β: weight on components the corruption left intact; default 1 (the plain DAE loss ‖f(ν(x)) − x‖²). */
  readonly cleanWeight?: number;
}

/**
 * The denoising autoencoder's reconstruction loss weighted by the corruption mask (Vincent et al. 2010,
 * Sec. 4.3): L = α Σ_{j ∈ J(x̃)} (z_j − x_j)² + β Σ_{j ∉ J(x̃)} (z_j − x_j)², averaged over the batch and
 * divided by the number of components D (a mean, so the scale does not depend on the image size).
 * `reconstruction` z, `target` x and `corruptionMask` J (1 = corrupted) share one shape [N, ...].
 */
export function denoisingLoss(reconstruction: Tensor, target: Tensor, corruptionMask: Tensor, options: DenoisingLossOptions = {}): Scalar {
  const alpha = options.corruptedWeight ?? 1;
  const beta = options.cleanWeight ?? 1;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) invalidConfig('corruptedWeight', alpha, 'a finite number ≥ 0');
  if (typeof beta !== 'number' || !Number.isFinite(beta) || beta < 0) invalidConfig('cleanWeight', beta, 'a finite number ≥ 0');
  requireNonEmpty('reconstruction', reconstruction);
  requireFloat('reconstruction', reconstruction);
  requireSameShape('reconstruction', reconstruction, 'target', target, 'the decoder predicts every component of the clean input');
  requireSameShape('corruptionMask', corruptionMask, 'target', target, 'the mask marks each corrupted component');
  return tf.tidy(() => {
    const weights = tf.add(tf.mul(corruptionMask, alpha), tf.mul(tf.sub(1, corruptionMask), beta));
    return tf.mean(tf.mul(weights, tf.squaredDifference(reconstruction, target))) as Scalar;
  });
}
