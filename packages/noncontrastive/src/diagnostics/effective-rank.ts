import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { l2Normalize } from '@ssl/core';

/**
 * Effective rank of a batch of embeddings, as the participation ratio of the covariance C of the
 * L2-normalized rows: (Σ λ_i)² / Σ λ_i² = (tr C)² / ‖C‖_F², with λ the eigenvalues of C. It is d when the
 * variance is spread evenly over d directions and 1 when it lies along one (dimensional collapse, Jing et
 * al. 2022); complete collapse (no variance) gives 0. Needs no eigendecomposition, which tfjs-core lacks.
 */
export function effectiveRank(x: Tensor2D): Scalar {
  return tf.tidy(() => {
    const normalized = l2Normalize(x);
    const centered = tf.sub(normalized, tf.mean(normalized, 0, true));
    // C = XᵀX/N (d × d) and G = XXᵀ/N (N × N) share their non-zero eigenvalues: use the smaller one.
    const [rows, dims] = x.shape;
    const covariance =
      dims <= rows ? tf.div(tf.matMul(centered, centered, true, false), rows) : tf.div(tf.matMul(centered, centered, false, true), rows);
    const trace = tf.sum(tf.mul(covariance, tf.eye(Math.min(rows, dims))));
    const frobenius = tf.sum(tf.square(covariance));
    // 0/0 for a constant batch: report 0 (collapsed) instead of NaN.
    return tf.where(tf.greater(frobenius, 1e-20), tf.div(tf.square(trace), tf.maximum(frobenius, 1e-20)), tf.scalar(0)) as Scalar;
  });
}
