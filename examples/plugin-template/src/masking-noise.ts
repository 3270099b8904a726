import * as tf from '@tensorflow/tfjs-core';
import { defineViewPolicy } from '@ssl/core';

export interface MaskingNoiseOptions {
  /** Fraction of pixels set to zero (Vincent et al. 2008: "masking noise"). */
  rate?: number;
}

/**
 * The template plugin's own view policy: one view with a random fraction of the pixels zeroed. Registered
 * with definePlugin({ viewPolicies }), so any method in the same registry can name it, and `ssl list` shows it.
 */
export const maskingNoise = defineViewPolicy<MaskingNoiseOptions>({
  name: 'maskingNoise',
  description: 'one view: a random fraction of the pixels set to zero (masking noise)',
  options: { rate: { check: (value) => typeof value === 'number' && value >= 0 && value < 1, expects: 'a number in [0, 1)' } },
  create: ({ rate = 0.3 }) => ({
    name: 'maskingNoise',
    views: [
      {
        name: 'corrupted',
        ops: [
          {
            op: 'custom',
            name: 'maskingNoise',
            apply: (images, rng) =>
              tf.tidy(() =>
                tf.mul(images, tf.cast(tf.greaterEqual(tf.randomUniform(images.shape, 0, 1, 'float32', rng.seed()), rate), 'float32')),
              ),
          },
        ],
      },
    ],
  }),
});
