import { defineViewPolicy, weakOps } from '@ssl/core';

export interface WeakStrongOptions {
  translateFraction?: number;
  numOps?: number;
  magnitude?: number | 'random';
  /** Cutout side as a fraction of the image side (FixMatch: 0.5). */
  cutoutSize?: number;
}

/**
 * Grey, as the FixMatch reference code's Cutout (the box is set to 0.5 of the [0, 1] range, not to black):
 * a black box on Fashion-MNIST's black background would often erase nothing the model sees.
 */
export const CUTOUT_FILL = 0.5;

/** The FixMatch reference RandAugment translates by up to 0.3 of the side (torchvision's default is ≈ 0.45). */
export const RAND_AUGMENT_TRANSLATE = 0.3;

/** FixMatch (Sohn et al. 2020): weak = flip + translate; strong = weak + RandAugment (translate ≤ 0.3) + Cutout (grey). */
export const weakStrong = defineViewPolicy<WeakStrongOptions>({
  name: 'weakStrong',
  description: 'two views: weak (flip + translate) and strong (weak + RandAugment + Cutout), FixMatch §2.3',
  options: { translateFraction: 'probability', numOps: 'count', magnitude: 'magnitude', cutoutSize: 'probability' },
  create(o) {
    const weak = weakOps({ translateFraction: o.translateFraction });
    return {
      name: 'weakStrong',
      views: [
        { name: 'weak', ops: weak },
        {
          name: 'strong',
          ops: [
            ...weak,
            { op: 'randAugment', numOps: o.numOps ?? 2, magnitude: o.magnitude ?? 'random', translateFraction: RAND_AUGMENT_TRANSLATE },
            { op: 'cutout', size: o.cutoutSize ?? 0.5, p: 1, fill: CUTOUT_FILL },
          ],
        },
      ],
    };
  },
});
