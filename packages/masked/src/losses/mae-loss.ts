import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, requireFloat, requireRank, requireSameShape } from '@ssl/core';

export interface MaeLossOptions {
  /**
   * Regress per-patch normalized pixels (MAE Sec. 3, "normalized pixels as the target"): each target
   * patch becomes (t − mean) / sqrt(var + 1e-6) with its own mean and unbiased variance. The reference
   * flag `--norm_pix_loss` defaults to off; the paper's best results use it.
   */
  normPixLoss?: boolean;
}

/** ε added to the per-patch variance under norm-pix, as the reference code. */
const NORM_PIX_EPSILON = 1e-6;

/**
 * MAE's normalized-pixel target (Sec. 3): each patch [N, L, P] as (t − mean) / sqrt(var + 1e-6) with its own mean
 * and unbiased variance (torch.var's default, Σ(t − mean)² / (P − 1)), as the reference's `forward_loss`.
 */
export function normalizedPatches(target: Tensor3D): Tensor3D {
  return tf.tidy(() => {
    const mean = tf.mean(target, -1, true);
    const unbiasedVariance = tf.div(tf.sum(tf.square(tf.sub(target, mean)), -1, true), target.shape[2] - 1);
    return tf.div(tf.sub(target, mean), tf.sqrt(tf.add(unbiasedVariance, NORM_PIX_EPSILON))) as Tensor3D;
  });
}

/**
 * MAE reconstruction loss (He et al. 2022, Sec. 3; `forward_loss` in the reference code): per-patch mean
 * squared error over the p·p·C values, averaged over the masked patches only:
 * Σ_{n,l} mse[n, l]·mask[n, l] / Σ mask.
 *
 * `target` is data (the patchified images) and gets no special treatment for gradients; pass a tensor
 * that does not depend on trainable variables. If no patch is masked (maskRatio 0) the result is
 * 0/0 = NaN, as in the reference.
 *
 * @param pred [N, L, p·p·C] decoder predictions for every patch.
 * @param target [N, L, p·p·C] patchified images (`patchify`).
 * @param mask [N, L], 1 = masked (the patches the loss counts), 0 = visible.
 */
export function maeLoss(pred: Tensor3D, target: Tensor3D, mask: Tensor2D, options: MaeLossOptions = {}): Scalar {
  requireRank('pred', pred, 3, '[N, L, p·p·C]');
  requireRank('target', target, 3, '[N, L, p·p·C]');
  requireRank('mask', mask, 2, '[N, L]');
  requireSameShape('pred', pred, 'target', target, 'the decoder predicts every patchified target value');
  if (mask.shape[0] !== pred.shape[0] || mask.shape[1] !== pred.shape[1]) {
    throw new SslError(
      'shape-mismatch',
      `mask ${formatShape(mask.shape)} must be [N, L] = [${pred.shape[0]}, ${pred.shape[1]}] to match pred ${formatShape(pred.shape)}.`,
      { details: { mask: mask.shape, pred: pred.shape } },
    );
  }
  requireFloat('pred', pred);
  requireFloat('target', target);
  requireFloat('mask', mask);
  const normPixLoss = options.normPixLoss ?? false;
  if (typeof normPixLoss !== 'boolean') {
    throw new SslError('invalid-config', `Invalid config value normPixLoss = ${String(normPixLoss)}: expected true or false.`, {
      details: { field: 'normPixLoss', value: normPixLoss },
    });
  }
  const patchLength = pred.shape[2];
  if (normPixLoss && patchLength < 2) {
    throw new SslError(
      'shape-mismatch',
      `normPixLoss needs at least 2 values per patch for an unbiased variance, got patch length ${patchLength} (pred ${formatShape(pred.shape)}).`,
      { details: { pred: pred.shape } },
    );
  }

  return tf.tidy(() => {
    const regressionTarget = normPixLoss ? normalizedPatches(target) : target;
    const perPatch = tf.mean(tf.squaredDifference(pred, regressionTarget), -1); // [N, L]
    return tf.div(tf.sum(tf.mul(perPatch, mask)), tf.sum(mask)) as Scalar;
  });
}
