import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { requireFloat, requireNonEmpty, requireRank } from '@ssl/core';

/**
 * Mean entropy of the predicted class distributions, the regulariser of entropy minimisation (Grandvalet &
 * Bengio 2005, eq. 5 up to the sign convention: they maximise C − λH, we minimise the loss + λH):
 * H = −1/N Σ_b Σ_k p_bk log p_bk with p_b = softmax(logits_b).
 *
 * Computed as logsumexp(z_b) − Σ_k p_bk z_bk, which equals −Σ p log p and stays finite for saturated
 * logits where p log p would be 0 · (−∞). Gradients flow into the logits (no stop-gradient: both the
 * distribution and its log depend on them, as in the paper).
 *
 * @param logits [N, K] unnormalised scores.
 */
export function entropyLoss(logits: Tensor2D): Scalar {
  requireRank('logits', logits, 2, '[N, K]');
  requireNonEmpty('logits', logits);
  requireFloat('logits', logits);
  return tf.tidy(() => {
    const probabilities = tf.softmax(logits);
    const perRow = tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(probabilities, logits), 1));
    return tf.mean(perRow) as Scalar;
  });
}
