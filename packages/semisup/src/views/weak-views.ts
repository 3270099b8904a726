import { defineViewPolicy, weakOps } from '@ssl/core';
import type { WeakOptions } from '@ssl/core';

export interface WeakViewsOptions extends WeakOptions {
  /** K, the number of independent weak views of each image (MixMatch: 2). */
  count?: number;
}

/** K independent weak views (flip + translate) of each image: MixMatch's K augmentations for label guessing. */
export const weakViews = defineViewPolicy<WeakViewsOptions>({
  name: 'weakViews',
  description: 'K views: independent flip + reflect-padded translation of each image (MixMatch label guessing)',
  options: {
    translateFraction: 'probability',
    flipP: 'probability',
    count: { check: (v) => typeof v === 'number' && Number.isInteger(v) && v >= 1, expects: 'a positive integer' },
  },
  create: ({ count = 2, ...weak }) => ({ name: 'weakViews', views: [{ name: 'weak', ops: weakOps(weak), count }] }),
});
