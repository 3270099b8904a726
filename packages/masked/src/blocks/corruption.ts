import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { Random, invalidConfig, requireRank } from '@ssl/core';
import { randomMasking } from './random-masking';

/** The corruption process ν of a denoising autoencoder (Vincent et al. 2010, Sec. 4.2). */
export interface CorruptionOptions {
  /**
   * Masking noise: the fraction ν of each sample's components forced to 0, a fixed number per sample
   * (`floor(D·ν)` rounded as MAE's masking: D − floor(D·(1 − ν))) chosen uniformly at random. In [0, 1).
   */
  readonly maskingRate: number;
  /** Additive isotropic Gaussian noise N(0, σ²) on every component, after the masking; 0 for none. */
  readonly gaussianStd: number;
}

/** Throws SslError('invalid-config') naming `prefix.maskingRate` / `prefix.gaussianStd` when out of range. */
export function validateCorruption(options: CorruptionOptions, prefix = ''): void {
  const rate = options.maskingRate;
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1))
    invalidConfig(`${prefix}maskingRate`, rate, 'a number in [0, 1) (the fraction of components set to 0)');
  const std = options.gaussianStd;
  if (typeof std !== 'number' || !Number.isFinite(std) || std < 0)
    invalidConfig(`${prefix}gaussianStd`, std, 'a finite number ≥ 0 (the standard deviation of the additive noise)');
}

/**
 * Corrupts `x` ([N, ...], each sample flattened to D components): zeroes exactly D − floor(D·(1 − ν))
 * components per sample at random (masking noise, drawn as MAE's per-sample shuffle), then adds
 * N(0, gaussianStd²) noise. Randomness comes from `rng` (or `new Random(seed)`), so it is reproducible
 * and checkpointed inside a run. Returns a tensor of the input's shape; the caller disposes it.
 */
export function corrupt<T extends Tensor>(x: T, options: CorruptionOptions, rng: Random | number): T {
  validateCorruption(options);
  if (x.rank < 2) requireRank('x', x, 2, '[N, ...components]');
  const random = typeof rng === 'number' ? new Random(rng) : rng;
  return tf.tidy(() => {
    const [batch] = x.shape;
    const components = x.size / batch;
    let flat = tf.reshape(x, [batch, components]) as Tensor2D;
    if (options.maskingRate > 0) {
      const masking = randomMasking(batch, components, options.maskingRate, random);
      flat = tf.mul(flat, tf.sub(1, masking.mask));
    }
    if (options.gaussianStd > 0) flat = tf.add(flat, tf.randomNormal(flat.shape, 0, options.gaussianStd, 'float32', random.seed()));
    return tf.reshape(flat, x.shape) as T;
  });
}

/**
 * J(x̃) of Vincent et al. 2010 (Sec. 4.3, "emphasizing corrupted dimensions") as a 0/1 float tensor: 1 where
 * the corrupted input differs from the clean one. A zeroed component that was already 0 counts as clean:
 * the network sees its true value. With Gaussian noise every component is corrupted.
 */
export function corruptionMask<T extends Tensor>(corrupted: T, clean: T): T {
  return tf.tidy(() => tf.cast(tf.notEqual(corrupted, clean), 'float32') as T);
}
