import { defineViewPolicy } from '@ssl/core';
import { corrupt as corruptTensor } from '../blocks/corruption';

export interface CorruptOptions {
  /** Fraction of each image's pixel values set to 0 (masking noise); default 0.25. */
  maskingRate?: number;
  /** Standard deviation of additive Gaussian noise; default 0. */
  gaussianStd?: number;
}

/**
 * One view: the image corrupted by a denoising autoencoder's ν — masking noise (a fixed fraction of the
 * values zeroed at random) then additive Gaussian noise, no clipping (Vincent et al. 2010, Sec. 4.2).
 * Registered by the masked plugin as 'corrupt'; `masked:dae` and `masked:stacked-dae` use it.
 */
export const corrupt = defineViewPolicy<CorruptOptions>({
  name: 'corrupt',
  description: "one view: a denoising autoencoder's corruption (masking noise, then additive Gaussian noise)",
  options: {
    maskingRate: { check: (value) => typeof value === 'number' && value >= 0 && value < 1, expects: 'a number in [0, 1)' },
    gaussianStd: 'nonNegative',
  },
  create: ({ maskingRate = 0.25, gaussianStd = 0 }) => ({
    name: 'corrupt',
    views: [
      {
        name: 'corrupted',
        ops: [{ op: 'custom', name: 'corrupt', apply: (images, rng) => corruptTensor(images, { maskingRate, gaussianStd }, rng) }],
      },
    ],
  }),
});
