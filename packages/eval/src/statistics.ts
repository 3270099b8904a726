import { SslError } from '@ssl/core';

export interface Summary {
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator); 0 for a single value. */
  std: number;
  /** Half-width of the normal-approximation 95% confidence interval of the mean: 1.96 * std / sqrt(n). */
  ci95: number;
  count: number;
}

/**
 * Mean, standard deviation and 95% confidence half-width of repeated measurements (seeds, few-shot
 * episodes), reported as mean ± ci95 in the few-shot literature (e.g. Chen et al. 2019, "A Closer Look at
 * Few-shot Classification", 600 episodes).
 */
export function summarize(values: readonly number[]): Summary {
  const count = values.length;
  if (count === 0) throw new SslError('invalid-config', 'summarize needs at least one value.');
  const mean = values.reduce((sum, v) => sum + v, 0) / count;
  const variance = count > 1 ? values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (count - 1) : 0;
  const std = Math.sqrt(variance);
  return { mean, std, ci95: confidenceInterval95(std, count), count };
}

/** 1.96 * std / sqrt(n): half-width of the 95% confidence interval of a mean of n measurements. */
export function confidenceInterval95(std: number, count: number): number {
  if (!(count > 0)) throw new SslError('invalid-config', `confidenceInterval95 needs a positive count, got ${count}.`);
  return (1.96 * std) / Math.sqrt(count);
}
