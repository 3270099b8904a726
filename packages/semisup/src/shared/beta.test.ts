import { describe, expect, it } from 'vitest';
import { Random } from '@ssl/core';
import { sampleBeta } from './beta';

describe('sampleBeta', () => {
  it('has the mean and variance of Beta(α, α) and of Beta(2, 5), in [0, 1]', () => {
    const rng = new Random(7);
    for (const [alpha, beta] of [
      [0.75, 0.75],
      [2, 5],
    ]) {
      const draws = Array.from({ length: 20_000 }, () => sampleBeta(rng, alpha, beta));
      const mean = draws.reduce((a, v) => a + v, 0) / draws.length;
      const variance = draws.reduce((a, v) => a + (v - mean) ** 2, 0) / draws.length;
      const expectedMean = alpha / (alpha + beta);
      const expectedVariance = (alpha * beta) / ((alpha + beta) ** 2 * (alpha + beta + 1));
      expect(draws.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(Math.abs(mean - expectedMean)).toBeLessThan(0.01);
      expect(Math.abs(variance - expectedVariance)).toBeLessThan(0.005);
    }
    // A tiny α puts nearly all the mass at 0 and 1, without 0/0.
    const extreme = Array.from({ length: 1000 }, () => sampleBeta(rng, 1e-3));
    expect(extreme.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(extreme.filter((v) => v < 1e-6 || v > 1 - 1e-6).length).toBeGreaterThan(950);
  });
});
