import { invalidConfig, requirePositiveInteger, weakOps } from '@ssl/core';
import type { ViewPolicy } from '@ssl/core';
import { RAND_AUGMENT_TRANSLATE } from './weak-strong';

export interface WeakRandAugmentOptions {
  translateFraction?: number;
  /** RandAugment's N; default 2. */
  numOps?: number;
  /** RandAugment's M in [0, 10], or 'random' (a level drawn per image and op, as FixMatch's strong view); default 'random'. */
  magnitude?: number | 'random';
}

/**
 * One view: flip + translate, then RandAugment (Cubuk et al. 2020) — the input noise of Noisy Student's
 * students (Xie et al. 2020 §3: RandAugment on labeled and unlabeled images alike). FixMatch's strong view
 * without its Cutout. A policy object, not a registered name: the method passes it to the trainer as is.
 */
export function weakRandAugment(options: WeakRandAugmentOptions = {}): ViewPolicy {
  return {
    name: 'weakRandAugment',
    views: [
      {
        name: 'noised',
        ops: [
          ...weakOps({ translateFraction: options.translateFraction }),
          {
            op: 'randAugment',
            numOps: options.numOps ?? 2,
            magnitude: options.magnitude ?? 'random',
            translateFraction: RAND_AUGMENT_TRANSLATE,
          },
        ],
      },
    ],
  };
}

/** RandAugment's number of ops [2] and magnitude in [0, 10] or 'random' ['random', as FixMatch's strong view]. */
export type RandAugmentNoise = Pick<WeakRandAugmentOptions, 'numOps' | 'magnitude'>;

/** The input noise of a teacher–student method's students: RandAugment on every training image, or none. */
export interface InputNoiseSettings {
  /** RandAugment on every training image (true) or only flip + translate (false). */
  inputNoise: boolean;
  augment: RandAugmentNoise;
}

/** Throws `invalid-config` naming `inputNoise` or `augment.*` when they are not what `noisedView` reads. */
export function validateInputNoise(config: InputNoiseSettings): void {
  if (typeof config.inputNoise !== 'boolean') invalidConfig('inputNoise', config.inputNoise, 'true or false');
  const { numOps, magnitude } = config.augment ?? {};
  if (numOps !== undefined) requirePositiveInteger('augment.numOps', numOps);
  if (magnitude !== undefined && magnitude !== 'random' && !(typeof magnitude === 'number' && magnitude >= 0 && magnitude <= 10))
    invalidConfig('augment.magnitude', magnitude, `a number in [0, 10] or 'random'`);
}

/** The view every training image gets: `weakRandAugment(augment)` with input noise, else the `weak` policy. */
export function noisedView(config: InputNoiseSettings): ViewPolicy | 'weak' {
  return config.inputNoise ? weakRandAugment(config.augment) : 'weak';
}
