import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, invalidConfig, requireFloat, requireRank, requireSameShape } from '@ssl/core';

export interface ContextEncoderLossOptions {
  /**
   * Weight of the squared error on the region's visible border (region − hole) relative to the hole; the
   * reference code's `overlapL2Weight` = 10. 1 weights every predicted pixel alike.
   */
  readonly overlapWeight?: number;
}

/**
 * Context encoder reconstruction loss (Pathak et al. 2016, eq. 1): L_rec = ‖M̂ ⊙ (x − F((1 − M̂) ⊙ x))‖²,
 * the squared error of the prediction on the dropped region only, with the reference code's weighting: 1 on
 * the hole, `overlapWeight` on the region's border that the input still shows. Divided by the number of
 * region values (the reference's MSE over the predicted crop), so it does not depend on the image size.
 * `prediction` and `target` [N, H, W, C]; `region` and `hole` [N, H, W, 1] in {0, 1}, hole ⊆ region.
 */
export function contextEncoderLoss(
  prediction: Tensor4D,
  target: Tensor4D,
  region: Tensor4D,
  hole: Tensor4D,
  options: ContextEncoderLossOptions = {},
): Scalar {
  const overlapWeight = options.overlapWeight ?? 1;
  if (typeof overlapWeight !== 'number' || !Number.isFinite(overlapWeight) || overlapWeight < 0)
    invalidConfig('overlapWeight', overlapWeight, 'a finite number ≥ 0');
  requireRank('prediction', prediction, 4, '[N, H, W, C]');
  requireFloat('prediction', prediction);
  requireSameShape('prediction', prediction, 'target', target, 'one prediction per pixel');
  requireSameShape('hole', hole, 'region', region, 'both masks of the same batch');
  const [batch, height, width, channels] = target.shape;
  if (region.rank !== 4 || region.shape[0] !== batch || region.shape[1] !== height || region.shape[2] !== width || region.shape[3] !== 1) {
    throw new SslError(
      'shape-mismatch',
      `contextEncoderLoss: region [${region.shape.join(', ')}] must be [${batch}, ${height}, ${width}, 1].`,
    );
  }
  return tf.tidy(() => {
    const weights = tf.add(hole, tf.mul(tf.sub(region, hole), overlapWeight));
    const weighted = tf.sum(tf.mul(weights, tf.squaredDifference(prediction, target)));
    // Guarded so that an empty region gives 0, not NaN.
    return tf.div(weighted, tf.maximum(tf.mul(tf.sum(region), channels), 1)) as Scalar;
  });
}

/**
 * The discriminator's side of the adversarial loss (Pathak et al. 2016, eq. 2, as a loss to minimise):
 * −log D(x) − log(1 − D(F(·))), each term a mean over its batch, from logits (D = sigmoid), written with
 * softplus: −log σ(z) = softplus(−z), −log(1 − σ(z)) = softplus(z).
 */
export function discriminatorLoss(realLogits: Tensor, fakeLogits: Tensor): Scalar {
  requireFloat('realLogits', realLogits);
  requireFloat('fakeLogits', fakeLogits);
  return tf.tidy(() => tf.add(tf.mean(tf.softplus(tf.neg(realLogits))), tf.mean(tf.softplus(fakeLogits))) as Scalar);
}

/**
 * The generator's (context encoder's) adversarial loss: −log D(F(·)), the non-saturating form the reference
 * code trains with (binary cross-entropy of the fake against the "real" label), a mean over the batch.
 */
export function generatorAdversarialLoss(fakeLogits: Tensor): Scalar {
  requireFloat('fakeLogits', fakeLogits);
  return tf.tidy(() => tf.mean(tf.softplus(tf.neg(fakeLogits))) as Scalar);
}
