import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor3D } from '@tensorflow/tfjs-core';
import { SslError, requireRank, requireSameShape } from '@ssl/core';
import { maeLoss } from '../losses/mae-loss';
import type { NextPatchLossOptions } from '../losses/next-patch-loss';

/**
 * Next-patch loss under prefix-causal attention (AIM, El-Nouby et al. 2024, Sec. 3, eq. 2 restricted to the patches
 * after the prefix): image n's first K_n patches attend to each other bidirectionally, so position k < K_n − 1 has
 * seen patch k + 1 and is not scored; position k ≥ K_n − 1 predicts patch k + 1 ≥ K_n from patches 0 … k:
 *   L = Σ_n Σ_{k=K_n−1}^{L−2} ‖prediction[n, k] − x̂[n, k + 1]‖² / P  ÷  Σ_n (L − K_n)
 * (the mean over every scored position of the batch; x̂ normalized per patch under `normPixLoss`, P values per patch).
 * With every K_n = 1 it is `nextPatchLoss`.
 *
 * @param prediction [N, L, P] the head's output at every position.
 * @param target [N, L, P] the patchified images (`patchify`), data.
 * @param prefixLengths per image, K_n in [1, L − 1] (the number of patches in its bidirectional prefix).
 */
export function prefixNextPatchLoss(
  prediction: Tensor3D,
  target: Tensor3D,
  prefixLengths: readonly number[],
  options: NextPatchLossOptions = {},
): Scalar {
  requireRank('prediction', prediction, 3, '[N, L, p·p·C]');
  requireRank('target', target, 3, '[N, L, p·p·C]');
  requireSameShape('prediction', prediction, 'target', target, 'one prediction per patch position');
  const [batch, length, values] = prediction.shape;
  if (prefixLengths.length !== batch || prefixLengths.some((k) => !Number.isInteger(k) || k < 1 || k > length - 1)) {
    throw new SslError(
      'shape-mismatch',
      `prefixNextPatchLoss: prefixLengths must hold ${batch} integers in [1, ${length - 1}] (one per image; at least one patch after each prefix), got [${prefixLengths.join(', ')}].`,
      { details: { prefixLengths: [...prefixLengths], batch, length } },
    );
  }
  return tf.tidy(() => {
    const predicted = tf.slice(prediction, [0, 0, 0], [batch, length - 1, values]);
    const next = tf.slice(target, [0, 1, 0], [batch, length - 1, values]);
    const scored = new Float32Array(batch * (length - 1));
    prefixLengths.forEach((k, n) => scored.fill(1, n * (length - 1) + k - 1, (n + 1) * (length - 1)));
    return maeLoss(predicted, next, tf.tensor2d(scored, [batch, length - 1]), { normPixLoss: options.normPixLoss ?? false });
  });
}

/** K uniform in [1, L − 1] per image, as AIM draws its prefix lengths. */
export function drawPrefixLengths(batch: number, numPatches: number, random: { int(n: number): number }): number[] {
  return Array.from({ length: batch }, () => 1 + random.int(numPatches - 1));
}
