import { describe, expect, it } from 'vitest';
import { SslError } from '@ssl/core';
import { hammingDistance, hammingPermutationSet } from '../index';

function isPermutation(p: readonly number[], n: number): boolean {
  return p.length === n && [...p].sort((a, b) => a - b).every((v, i) => v === i);
}

describe('hammingPermutationSet', () => {
  it('returns distinct permutations whose smallest pairwise Hamming distance is the stated one', () => {
    // Measured: 24 permutations of 9 tiles reach a minimum distance of 7, 100 reach 6 (seed 1).
    for (const [size, stated] of [
      [24, 7],
      [100, 6],
    ] as const) {
      const set = hammingPermutationSet({ size, seed: 1, minDistance: stated });
      expect(set.permutations).toHaveLength(size);
      let min = 9;
      for (let a = 0; a < size; a++) {
        expect(isPermutation(set.permutations[a], 9)).toBe(true);
        for (let b = a + 1; b < size; b++) min = Math.min(min, hammingDistance(set.permutations[a], set.permutations[b]));
      }
      expect(set.minDistance).toBe(min);
      expect(min).toBeGreaterThanOrEqual(stated);
      expect(set.meanDistance).toBeGreaterThan(8);
    }
  });

  it('is deterministic given the seed, different for another seed, and exhaustive or optimal on tiny cases', () => {
    const a = hammingPermutationSet({ size: 30, seed: 5 });
    expect(hammingPermutationSet({ size: 30, seed: 5 }).permutations).toEqual(a.permutations);
    expect(hammingPermutationSet({ size: 30, seed: 6 }).permutations).not.toEqual(a.permutations);
    // All 3! permutations of 3 tiles: the greedy search must find them all, with distance ≥ 2.
    const small = hammingPermutationSet({ size: 6, tiles: 3, seed: 0 });
    expect(new Set(small.permutations.map((p) => p.join(''))).size).toBe(6);
    expect(small.minDistance).toBe(2);
    // 4 permutations of 3 tiles cannot all be 3 apart (a Latin square has 3 rows).
    expect(hammingPermutationSet({ size: 3, tiles: 3, seed: 0 }).minDistance).toBe(3);
    expect(() => hammingPermutationSet({ size: 4, tiles: 3, seed: 0, minDistance: 3 })).toThrow(/minHammingDistance/);
  });

  it('rejects sizes beyond tiles! and bad tile counts with invalid-config', () => {
    expect(() => hammingPermutationSet({ size: 7, tiles: 3, seed: 0 })).toThrow(SslError);
    expect(() => hammingPermutationSet({ size: 7, tiles: 3, seed: 0 })).toThrow(/permutations/);
    expect(() => hammingPermutationSet({ size: 5, tiles: 10, seed: 0 })).toThrow(/tiles/);
  });
});
