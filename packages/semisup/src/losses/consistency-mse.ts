import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { requireFloat, requireNonEmpty, requireRank, requireSameShape } from '@ssl/core';

/**
 * Squared-error consistency between two predictive distributions, mean over all N·K entries:
 * 1/(N·K) Σ (p1 − p2)². This is the Π-model / Mean Teacher consistency cost (Laine & Aila 2017; Tarvainen &
 * Valpola 2017, whose code sums over classes and divides by K and the batch) and MixMatch's L_U (eq. 4).
 *
 * Pass probabilities (softmax outputs), not logits. Stopping the gradient into the target (teacher
 * prediction, guessed label) is the caller's job.
 *
 * @param p1 [N, K] student probabilities.
 * @param p2 [N, K] target probabilities.
 */
export function consistencyMse(p1: Tensor2D, p2: Tensor2D): Scalar {
  requireRank('p1', p1, 2, '[N, K]');
  requireRank('p2', p2, 2, '[N, K]');
  requireSameShape('p1', p1, 'p2', p2, 'both hold one probability per class for the same samples');
  requireNonEmpty('p1', p1);
  requireFloat('p1', p1);
  requireFloat('p2', p2);
  return tf.tidy(() => tf.mean(tf.squaredDifference(p1, p2)) as Scalar);
}
