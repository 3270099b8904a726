import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, requireFloat, requireNonNegative, requireRank, requireSameShape } from '@ssl/core';

export interface BarlowTwinsOptions {
  /** Weight λ of the redundancy-reduction (off-diagonal) term; the paper's 5e-3. */
  lambda?: number;
}

/** BatchNorm1d's default ε, which the reference code uses (affine-free) to standardize. */
const STANDARDIZE_EPSILON = 1e-5;

/**
 * Barlow Twins loss (Zbontar et al. 2021, eq. 1–2):
 * L = Σ_i (1 − C_ii)² + λ Σ_i Σ_{j≠i} C_ij², C = z̃₁ᵀ z̃₂ / N,
 * where z̃ standardizes every feature over the batch. As the reference code (an affine-free BatchNorm1d),
 * standardization uses the batch mean and the biased batch variance with ε = 1e-5:
 * z̃ = (z − mean) / sqrt(var + 1e-5).
 *
 * Symmetric in (z1, z2): swapping them transposes C, which leaves both terms unchanged.
 *
 * @param z1 [N, D] projections of the first views (N ≥ 2).
 * @param z2 [N, D] projections of the second views, row-aligned with `z1`.
 */
export function barlowTwinsLoss(z1: Tensor2D, z2: Tensor2D, options: BarlowTwinsOptions = {}): Scalar {
  requireRank('z1', z1, 2, '[N, D]');
  requireRank('z2', z2, 2, '[N, D]');
  requireSameShape('z1', z1, 'z2', z2, 'row i of both holds the two views of sample i');
  if (z1.shape[0] < 2 || z1.shape[1] < 1) {
    throw new SslError(
      'shape-mismatch',
      `Barlow Twins standardizes each feature over the batch, so it needs N ≥ 2 samples and D ≥ 1 features; got z1 ${formatShape(z1.shape)}.`,
      { details: { z1: z1.shape } },
    );
  }
  requireFloat('z1', z1);
  requireFloat('z2', z2);
  const lambda = options.lambda ?? 5e-3;
  requireNonNegative('lambda', lambda);
  const batchSize = z1.shape[0];
  const featureSize = z1.shape[1];

  return tf.tidy(() => {
    const standardize = (z: Tensor2D) => {
      const { mean, variance } = tf.moments(z, 0, true);
      return tf.div(tf.sub(z, mean), tf.sqrt(tf.add(variance, STANDARDIZE_EPSILON)));
    };
    // Eq. 2: cross-correlation of the standardized features, [D, D].
    const crossCorrelation = tf.div(tf.matMul(standardize(z1), standardize(z2), true, false), batchSize);
    const identity = tf.eye(featureSize);
    const diagonal = tf.sum(tf.mul(crossCorrelation, identity), 1); // C_ii
    const invariance = tf.sum(tf.square(tf.sub(1, diagonal)));
    const redundancy = tf.sum(tf.square(tf.mul(crossCorrelation, tf.sub(1, identity))));
    return tf.add(invariance, tf.mul(lambda, redundancy)) as Scalar;
  });
}
