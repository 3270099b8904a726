import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor3D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, requireRank, requireSameShape } from '@ssl/core';
import { maeLoss } from './mae-loss';

export interface NextPatchLossOptions {
  /** Regress per-patch normalized pixels (AIM's and MAE's target: each target patch standardized by its own mean and unbiased variance). */
  normPixLoss?: boolean;
}

/**
 * Next-patch regression loss of an autoregressive image model in raster order (AIM, El-Nouby et al. 2024, eq. 1–2,
 * with the ℓ2 pixel loss): the prediction at position k is scored against patch k + 1, so
 *   L = 1/(N·(L − 1)) Σ_n Σ_{k=0}^{L−2} ‖prediction[n, k] − x̂[n, k + 1]‖² / P
 * with x̂ the target patches (normalized per patch under `normPixLoss`) and P their number of values.
 * The last position has no next patch and is not scored; the first patch is never a target.
 *
 * @param prediction [N, L, P] the head's output at every position (a causal model: position k has seen patches 0 … k).
 * @param target [N, L, P] the patchified images (`patchify`), data: no gradient is taken through it.
 */
export function nextPatchLoss(prediction: Tensor3D, target: Tensor3D, options: NextPatchLossOptions = {}): Scalar {
  requireRank('prediction', prediction, 3, '[N, L, p·p·C]');
  requireRank('target', target, 3, '[N, L, p·p·C]');
  requireSameShape('prediction', prediction, 'target', target, 'one prediction per patch position');
  const [batch, length, values] = prediction.shape;
  if (length < 2) {
    throw new SslError(
      'shape-mismatch',
      `nextPatchLoss needs at least 2 patches (a context and a next one), got ${formatShape(prediction.shape)}.`,
      {
        details: { prediction: prediction.shape },
      },
    );
  }
  return tf.tidy(() => {
    const predicted = tf.slice(prediction, [0, 0, 0], [batch, length - 1, values]);
    const next = tf.slice(target, [0, 1, 0], [batch, length - 1, values]);
    return maeLoss(predicted, next, tf.ones([batch, length - 1]), { normPixLoss: options.normPixLoss ?? false });
  });
}
