import { weakOps } from '@ssl/core';
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
