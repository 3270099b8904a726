import { describe, expect, it } from 'vitest';
import { Random } from '@ssl/core';
import { hungarian } from './hungarian';

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

function totalCost(cost: number[], columns: number, assignment: ArrayLike<number>): number {
  let sum = 0;
  for (let row = 0; row < assignment.length; row++) sum += cost[row * columns + assignment[row]];
  return sum;
}

describe('hungarian', () => {
  it('solves a hand-computed 3 x 3 case', () => {
    // Optimal: row 0 -> column 1 (1), row 1 -> column 0 (2), row 2 -> column 2 (2): total 5.
    const cost = [4, 1, 3, 2, 0, 5, 3, 2, 2];
    expect(Array.from(hungarian(cost, 3, 3))).toEqual([1, 0, 2]);
  });

  it('matches brute force over all permutations on random 6 x 6 matrices', () => {
    const random = new Random(7);
    for (let trial = 0; trial < 20; trial++) {
      const cost = Array.from({ length: 36 }, () => random.int(20) - 5);
      const best = Math.min(...permutations(6).map((p) => totalCost(cost, 6, p)));
      const assignment = hungarian(cost, 6, 6);
      expect(new Set(assignment).size).toBe(6);
      expect(totalCost(cost, 6, assignment)).toBe(best);
    }
  });

  it('handles rectangular matrices (rows < columns) against brute force', () => {
    const random = new Random(8);
    for (let trial = 0; trial < 10; trial++) {
      const cost = Array.from({ length: 3 * 5 }, () => random.next());
      let best = Infinity;
      for (const p of permutations(5)) best = Math.min(best, totalCost(cost, 5, p.slice(0, 3)));
      expect(totalCost(cost, 5, hungarian(cost, 3, 5))).toBeCloseTo(best, 12);
    }
  });

  it('rejects more rows than columns', () => {
    expect(() => hungarian([1, 2], 2, 1)).toThrow(/transpose/);
  });
});
