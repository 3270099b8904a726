import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, requireFloat, requireNonEmpty, requireRank, requireSameShape, stopGradient } from '@ssl/core';

export interface ClasswiseThresholdLossInput {
  /** [N, K] class probabilities of the weakly augmented unlabeled images (after distribution alignment, if any). */
  weakProbabilities: Tensor2D;
  /** [N, K] classifier logits on the strongly augmented versions of the same images. */
  logitsStrong: Tensor2D;
  /** [K] the confidence each predicted class needs (FlexMatch's T_t(c), FreeMatch's τ_t(c)). */
  classThresholds: Tensor1D;
}

export interface ClasswiseThresholdLossResult {
  /** Scalar unlabeled loss ℓ_u. */
  loss: Scalar;
  /** [N] float32, 1 where max q_b ≥ T(argmax q_b). */
  mask: Tensor1D;
  /** [N] int32, argmax q_b. */
  pseudoLabels: Tensor1D;
  /** [N] float32, max q_b. */
  confidence: Tensor1D;
}

/**
 * FixMatch's unlabeled loss with a threshold per predicted class (FlexMatch, Zhang et al. 2021, eq. 6;
 * FreeMatch, Wang et al. 2023, eq. 8):
 * ℓ_u = 1/N Σ_b 1[max q_b ≥ T(argmax q_b)] · H(argmax q_b, softmax(logitsStrong_b)).
 *
 * q is detached (no gradient reaches the weak view), the comparison is ≥ (both reference codes) and the
 * mean runs over all N samples, as `fixMatchLoss`; with every T(c) = τ the two are the same loss.
 * The caller disposes `mask`, `pseudoLabels` and `confidence`.
 */
export function classwiseThresholdLoss({
  weakProbabilities,
  logitsStrong,
  classThresholds,
}: ClasswiseThresholdLossInput): ClasswiseThresholdLossResult {
  checkThresholdedInput({ weakProbabilities, logitsStrong, classThresholds });
  return tf.tidy(() => {
    const { pseudoLabels, pseudoLabelOneHot, confidence, mask } = confidentPseudoLabels(weakProbabilities, classThresholds);
    const labelLogits = tf.sum(tf.mul(logitsStrong, pseudoLabelOneHot), 1);
    const crossEntropy = tf.sub(tf.logSumExp(logitsStrong, 1), labelLogits);
    const loss = tf.mean(tf.mul(crossEntropy, mask)) as Scalar;
    return { loss, mask, pseudoLabels, confidence };
  });
}

/** Checks the inputs every thresholded unlabeled loss takes (this one, `softPseudoLabelLoss`), naming the argument at fault. */
export function checkThresholdedInput({ weakProbabilities, logitsStrong, classThresholds }: ClasswiseThresholdLossInput): void {
  requireRank('weakProbabilities', weakProbabilities, 2, '[N, K]');
  requireRank('logitsStrong', logitsStrong, 2, '[N, K]');
  requireSameShape(
    'weakProbabilities',
    weakProbabilities,
    'logitsStrong',
    logitsStrong,
    'row i of both comes from the same unlabeled image',
  );
  requireNonEmpty('weakProbabilities', weakProbabilities);
  requireFloat('weakProbabilities', weakProbabilities);
  requireFloat('logitsStrong', logitsStrong);
  requireRank('classThresholds', classThresholds, 1, '[K]');
  const classes = weakProbabilities.shape[1];
  if (classThresholds.shape[0] !== classes) {
    throw new SslError(
      'shape-mismatch',
      `classThresholds ${formatShape(classThresholds.shape)} must hold one threshold per class, [${classes}].`,
      {
        details: { classThresholds: classThresholds.shape, classes },
      },
    );
  }
}

/**
 * Each sample's pseudo-label argmax q_b, its confidence max q_b and the mask 1[max q_b ≥ T(argmax q_b)], with q
 * and the thresholds detached. Call inside a tidy.
 */
export function confidentPseudoLabels(weakProbabilities: Tensor2D, classThresholds: Tensor1D) {
  const q = stopGradient(weakProbabilities);
  const pseudoLabels = tf.argMax(q, 1) as Tensor1D;
  const confidence = tf.max(q, 1) as Tensor1D;
  const pseudoLabelOneHot = tf.oneHot(pseudoLabels, q.shape[1]);
  // T(argmax q_b) as a one-hot dot product: a gather by int32 labels breaks tfjs's gradient tape.
  const sampleThresholds = tf.sum(tf.mul(pseudoLabelOneHot, stopGradient(classThresholds)), 1);
  const mask = tf.cast(tf.greaterEqual(confidence, sampleThresholds), 'float32') as Tensor1D;
  return { q, pseudoLabels, pseudoLabelOneHot, confidence, mask };
}
