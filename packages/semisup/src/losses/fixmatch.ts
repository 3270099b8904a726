import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, formatValue, stopGradient, requireFloat, requireNonEmpty, requireRank, requireSameShape } from '@ssl/core';

export interface FixMatchLossInput {
  /** [N, K] classifier logits on the weakly augmented unlabeled images. */
  logitsWeak: Tensor2D;
  /** [N, K] classifier logits on the strongly augmented versions of the same images. */
  logitsStrong: Tensor2D;
  /** τ, confidence a pseudo-label needs to count; the paper's 0.95. Compared in float32. */
  threshold?: number;
}

export interface FixMatchLossResult {
  /** Scalar unlabeled loss ℓ_u. */
  loss: Scalar;
  /** [N] float32, 1 where max softmax(weak) ≥ threshold. */
  mask: Tensor1D;
  /** [N] int32, argmax of softmax(weak). */
  pseudoLabels: Tensor1D;
}

/**
 * FixMatch's unlabeled loss (Sohn et al. 2020, eq. 4; `fixmatch.py` in the reference code):
 * ℓ_u = 1/N Σ_b 1[max q_b ≥ τ] · H(argmax q_b, softmax(logitsStrong_b)), q_b = softmax(logitsWeak_b).
 *
 * The weak-view distribution is detached (tf.stop_gradient in the reference): no gradient reaches
 * `logitsWeak`. The mean runs over ALL N unlabeled samples, not only the confident ones, as the
 * reference's reduce_mean(loss · mask); so the loss shrinks while few samples pass the threshold.
 *
 * Returns three tensors; the caller disposes `mask` and `pseudoLabels` (e.g. after logging the mask rate).
 */
export function fixMatchLoss({ logitsWeak, logitsStrong, threshold = 0.95 }: FixMatchLossInput): FixMatchLossResult {
  requireRank('logitsWeak', logitsWeak, 2, '[N, K]');
  requireRank('logitsStrong', logitsStrong, 2, '[N, K]');
  requireSameShape('logitsWeak', logitsWeak, 'logitsStrong', logitsStrong, 'row i of both comes from the same unlabeled image');
  requireNonEmpty('logitsWeak', logitsWeak);
  requireFloat('logitsWeak', logitsWeak);
  requireFloat('logitsStrong', logitsStrong);
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) {
    throw new SslError(
      'invalid-config',
      `Invalid config value threshold = ${formatValue(threshold)}: expected a probability in [0, 1] (FixMatch uses 0.95).`,
      {
        details: { field: 'threshold', value: threshold },
      },
    );
  }
  const classes = logitsWeak.shape[1];

  return tf.tidy(() => {
    const weakProbabilities = stopGradient(tf.softmax(logitsWeak));
    const pseudoLabels = tf.argMax(weakProbabilities, 1) as Tensor1D;
    // ≥, not >: a prediction exactly at the threshold counts (reference: reduce_max(...) >= confidence).
    const mask = tf.cast(tf.greaterEqual(tf.max(weakProbabilities, 1), threshold), 'float32') as Tensor1D;
    // Sparse cross-entropy: logsumexp(strong) − strong[pseudoLabel].
    const labelLogits = tf.sum(tf.mul(logitsStrong, tf.oneHot(pseudoLabels, classes)), 1);
    const crossEntropy = tf.sub(tf.logSumExp(logitsStrong, 1), labelLogits);
    const loss = tf.mean(tf.mul(crossEntropy, mask)) as Scalar;
    return { loss, mask, pseudoLabels };
  });
}
