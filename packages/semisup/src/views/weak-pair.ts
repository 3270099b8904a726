import { defineViewPolicy, weakOps } from '@ssl/core';
import type { WeakOptions } from '@ssl/core';

/**
 * Two independent weak views (flip + translate) of each image: the two stochastic passes of the Π-model
 * (Laine & Aila 2017, Algorithm 1) and Mean Teacher's student and teacher inputs (Tarvainen & Valpola 2017).
 */
export const weakPair = defineViewPolicy<WeakOptions>({
  name: 'weakPair',
  description: 'two views: independent flip + reflect-padded translation of each image (Π-model, Mean Teacher)',
  options: { translateFraction: 'probability', flipP: 'probability' },
  create: (o) => ({ name: 'weakPair', views: [{ name: 'weak', ops: weakOps(o), count: 2 }] }),
});
