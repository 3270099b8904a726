import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { requireFloat, requireNonEmpty, requireRank, stopGradient } from '@ssl/core';

/** log(x + LOG_EPSILON) as the reference (USB's freematch `entropy_loss`), so an empty class stays finite. */
const LOG_EPSILON = 1e-12;
const SMALLEST_SUM = 1e-30;

/** x / Σx for x ≥ 0, or 0 where Σx = 0 (then x = 0); a max, not divNoNan, since divNoNan has no gradient in tfjs. */
function sumNorm(x: Tensor2D): Tensor2D {
  return tf.div(x, tf.maximum(tf.sum(x, 1, true), SMALLEST_SUM)) as Tensor2D;
}

/**
 * 1/x for a histogram x ≥ 0, 0 where x = 0 (the reference's nan_to_num(1 / x)), as x / max(x², 1e-30): tfjs
 * has no gradient for the comparison inside divNoNan or where, and the histograms sit on the tape (they
 * derive from the predictions, through stop-gradients). Exact for every bin above 1e-15.
 */
function reciprocalOrZero(x: Tensor2D): Tensor2D {
  return tf.div(x, tf.maximum(tf.square(x), SMALLEST_SUM)) as Tensor2D;
}

/**
 * FreeMatch's self-adaptive fairness loss (Wang et al. 2023, eq. 10):
 * L_f = −H(SumNorm(p̃_t / h̃_t), SumNorm(p̄ / h̄)), with H(a, b) = −Σ_c a_c log b_c, so L_f = Σ_c a_c log b_c;
 * p̃_t and h̃_t are the EMA class marginal and EMA histogram of the predictions on weak views (constants here),
 * p̄ the mean softmax of the strong views of the masked (confident) samples and h̄ the normalised histogram
 * of their argmax. Minimising it pushes the confident predictions towards diverse classes. Divisions by an
 * empty histogram bin give 0 (the reference's nan_to_num); the loss is 0 when no sample is masked.
 *
 * @param logitsStrong [N, K] logits of the strong views.
 * @param mask [N] 1 for the samples that passed the threshold.
 * @param classMarginal [K] p̃_t. @param histogram [K] h̃_t.
 */
export function selfAdaptiveFairnessLoss(logitsStrong: Tensor2D, mask: Tensor1D, classMarginal: Tensor1D, histogram: Tensor1D): Scalar {
  requireRank('logitsStrong', logitsStrong, 2, '[N, K]');
  requireNonEmpty('logitsStrong', logitsStrong);
  requireFloat('logitsStrong', logitsStrong);
  requireRank('mask', mask, 1, '[N]');
  requireRank('classMarginal', classMarginal, 1, '[K]');
  requireRank('histogram', histogram, 1, '[K]');
  return tf.tidy(() => {
    const classes = logitsStrong.shape[1];
    const weights = tf.expandDims(stopGradient(mask), 1);
    const maskedCount = tf.sum(stopGradient(mask));
    // Σ mask when some sample is masked, else 1 (the sums are then 0): a max, not divNoNan (no gradient in tfjs).
    const divisor = tf.maximum(maskedCount, 1);
    const probabilities = tf.softmax(logitsStrong);
    // p̄ and h̄ over the masked rows only (weights 0/1), the reference's logits_s[mask].
    const meanProbability = tf.div(tf.sum(tf.mul(probabilities, weights), 0, true), divisor) as Tensor2D;
    const predicted = tf.oneHot(tf.argMax(stopGradient(probabilities), 1), classes).toFloat();
    const batchHistogram = tf.div(tf.sum(tf.mul(predicted, weights), 0, true), divisor) as Tensor2D;
    const target = sumNorm(
      tf.mul(
        tf.reshape(stopGradient(classMarginal), [1, classes]),
        reciprocalOrZero(tf.reshape(stopGradient(histogram), [1, classes])),
      ) as Tensor2D,
    );
    const batch = sumNorm(tf.mul(meanProbability, reciprocalOrZero(batchHistogram)) as Tensor2D);
    const loss = tf.sum(tf.mul(target, tf.log(tf.add(batch, LOG_EPSILON))));
    // × 1 if some sample is masked, else 0; min(count, 1) rather than a comparison, which tfjs cannot differentiate.
    return tf.mul(loss, tf.minimum(maskedCount, 1)) as Scalar;
  });
}
