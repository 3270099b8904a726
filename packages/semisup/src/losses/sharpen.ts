import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { requireFloat, requireNonEmpty, requirePositive, requireRank } from '@ssl/core';

/** Smallest positive normal float32; log(0) is replaced by log of this so rows with zeros stay finite. */
const SMALLEST_PROBABILITY = 1.1754944e-38;

/**
 * MixMatch's temperature sharpening (Berthelot et al. 2019, eq. 7): Sharpen(p, T)_i = p_i^{1/T} / Σ_j p_j^{1/T}.
 *
 * Computed as softmax(log p / T), which is the same quantity but cannot underflow to 0/0 when T is small
 * (p^{1/T} is below float32's range for p = 0.3, T = 0.01). T = 1 returns p renormalized; T → 0 approaches
 * the one-hot argmax. Entries must be ≥ 0 (not checked; that would need a read from the device).
 *
 * @param p [N, K] probabilities (e.g. the averaged guessed labels).
 * @param temperature T > 0; MixMatch uses 0.5.
 */
export function sharpen(p: Tensor2D, temperature: number): Tensor2D {
  requireRank('p', p, 2, '[N, K]');
  requireNonEmpty('p', p);
  requireFloat('p', p);
  requirePositive('temperature', temperature);
  return tf.tidy(() => tf.softmax(tf.div(tf.log(tf.maximum(p, SMALLEST_PROBABILITY)), temperature)) as Tensor2D);
}
