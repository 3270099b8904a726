import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, requireFloat, requireNonNegative, requireRank, requireSameShape } from '@ssl/core';

export interface VicregOptions {
  /** λ, weight of the invariance (MSE) term; the paper's 25. */
  simCoeff?: number;
  /** μ, weight of the variance (std hinge) term; the paper's 25. */
  stdCoeff?: number;
  /** ν, weight of the covariance term; the paper's 1. */
  covCoeff?: number;
}

/** ε inside the square root of the variance term, VICReg eq. 1. */
const VARIANCE_EPSILON = 1e-4;
/** γ, the target standard deviation of every feature, VICReg eq. 1. */
const TARGET_STD = 1;

/**
 * VICReg loss (Bardes et al. 2022, eq. 1–6), as the reference code computes it:
 * - invariance s(Z, Z′) = mean over all N·D entries of (z − z′)², eq. 5;
 * - variance v(Z) = mean_j max(0, γ − sqrt(Var(z_j) + ε)), γ = 1, ε = 1e-4, with the unbiased batch
 *   variance, eq. 1; the code averages the two branches: (v(Z) + v(Z′)) / 2;
 * - covariance c(Z) = Σ_{i≠j} C(Z)_ij² / d with C(Z) = (Z − Z̄)ᵀ(Z − Z̄) / (N − 1), eq. 3–4, summed over
 *   both branches.
 * loss = simCoeff·s + stdCoeff·(v(Z) + v(Z′))/2 + covCoeff·(c(Z) + c(Z′)).
 *
 * Symmetric in (z1, z2).
 *
 * @param z1 [N, D] expander outputs of the first views (N ≥ 2).
 * @param z2 [N, D] expander outputs of the second views, row-aligned with `z1`.
 */
export function vicregLoss(z1: Tensor2D, z2: Tensor2D, options: VicregOptions = {}): Scalar {
  requireRank('z1', z1, 2, '[N, D]');
  requireRank('z2', z2, 2, '[N, D]');
  requireSameShape('z1', z1, 'z2', z2, 'row i of both holds the two views of sample i');
  if (z1.shape[0] < 2 || z1.shape[1] < 1) {
    throw new SslError(
      'shape-mismatch',
      `VICReg uses the unbiased batch variance and covariance, so it needs N ≥ 2 samples and D ≥ 1 features; got z1 ${formatShape(z1.shape)}.`,
      { details: { z1: z1.shape } },
    );
  }
  requireFloat('z1', z1);
  requireFloat('z2', z2);
  const simCoeff = options.simCoeff ?? 25;
  const stdCoeff = options.stdCoeff ?? 25;
  const covCoeff = options.covCoeff ?? 1;
  requireNonNegative('simCoeff', simCoeff);
  requireNonNegative('stdCoeff', stdCoeff);
  requireNonNegative('covCoeff', covCoeff);
  const [batchSize, featureSize] = z1.shape;

  return tf.tidy(() => {
    const invariance = tf.mean(tf.squaredDifference(z1, z2));
    const offDiagonalMask = tf.sub(1, tf.eye(featureSize));
    const varianceAndCovariance = (z: Tensor2D) => {
      const centered = tf.sub(z, tf.mean(z, 0, true));
      const covarianceMatrix = tf.div(tf.matMul(centered, centered, true, false), batchSize - 1);
      const unbiasedVariance = tf.div(tf.sum(tf.square(centered), 0), batchSize - 1);
      const std = tf.sqrt(tf.add(unbiasedVariance, VARIANCE_EPSILON));
      const varianceTerm = tf.mean(tf.relu(tf.sub(TARGET_STD, std)));
      const covarianceTerm = tf.div(tf.sum(tf.square(tf.mul(covarianceMatrix, offDiagonalMask))), featureSize);
      return { varianceTerm, covarianceTerm };
    };
    const first = varianceAndCovariance(z1);
    const second = varianceAndCovariance(z2);
    const variance = tf.div(tf.add(first.varianceTerm, second.varianceTerm), 2);
    const covariance = tf.add(first.covarianceTerm, second.covarianceTerm);
    return tf.addN([tf.mul(simCoeff, invariance), tf.mul(stdCoeff, variance), tf.mul(covCoeff, covariance)]) as Scalar;
  });
}
