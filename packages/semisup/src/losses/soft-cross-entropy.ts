import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { requireFloat, requireNonEmpty, requireRank, requireSameShape } from '@ssl/core';

/**
 * Cross-entropy with soft targets, averaged over the batch: −1/N Σ_b Σ_k targets[b, k] · log softmax(logits)[b, k].
 * MixMatch's labeled term L_X (eq. 3) on mixed labels; with one-hot targets it is the usual cross-entropy.
 *
 * Gradients flow into both arguments; targets are usually constants (guessed or mixed labels), so detach
 * them if they were computed from trainable variables.
 *
 * @param logits [N, K] unnormalized scores.
 * @param targets [N, K] target distributions (rows summing to 1).
 */
export function softCrossEntropy(logits: Tensor2D, targets: Tensor2D): Scalar {
  requireRank('logits', logits, 2, '[N, K]');
  requireRank('targets', targets, 2, '[N, K]');
  requireSameShape('logits', logits, 'targets', targets, 'targets hold one probability per class for every sample');
  requireNonEmpty('logits', logits);
  requireFloat('logits', logits);
  requireFloat('targets', targets);
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1))) as Scalar);
}
