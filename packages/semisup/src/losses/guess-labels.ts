import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, requireRank, requireSameShape, stopGradient } from '@ssl/core';
import { sharpen } from './sharpen';

/**
 * MixMatch's label guessing (Berthelot et al. 2019, eq. 6–7): q̄_b = 1/K Σ_k p_model(y | û_{b,k}; θ), the
 * mean prediction over the K augmentations of unlabeled image b, then q_b = Sharpen(q̄_b, T). The guess is a
 * target: no gradient flows back through it (the reference code's stop_gradient).
 *
 * @param probabilities K arrays [N, C] of predictions, one per augmentation, rows in the same image order.
 * @param temperature T (MixMatch: 0.5).
 */
export function guessLabels(probabilities: readonly Tensor2D[], temperature: number): Tensor2D {
  if (probabilities.length === 0) throw new SslError('shape-mismatch', 'guessLabels needs the predictions of at least one augmentation.');
  probabilities.forEach((p, k) => {
    requireRank(`probabilities[${k}]`, p, 2, '[N, C]');
    requireSameShape('probabilities[0]', probabilities[0], `probabilities[${k}]`, p, 'row b of each is image b under another augmentation');
  });
  return tf.tidy(() => {
    const mean = tf.div(tf.addN(probabilities.map((p) => stopGradient(p))), probabilities.length) as Tensor2D;
    return sharpen(mean, temperature);
  });
}
