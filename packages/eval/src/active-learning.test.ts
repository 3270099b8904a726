import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { Random } from '@ssl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  activeLearning,
  coveringRadius,
  entropyScores,
  kCenterGreedy,
  leastConfidenceScores,
  marginScores,
  topScoring,
  voteEntropyScores,
} from './active-learning';
import { gaussianBlobs } from './test-data';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

// Three classes. Row 0: confident. Row 1: the top two tied (zero margin), little left for the third.
// Row 2: uniform (least confident, most entropy). Row 3: top 0.5, the rest split evenly.
const pool = Float32Array.from([0.9, 0.05, 0.05, 0.45, 0.45, 0.1, 1 / 3, 1 / 3, 1 / 3, 0.5, 0.25, 0.25]);

describe('acquisition scores', () => {
  it('least confidence ranks by 1 − max p', () => {
    const scores = leastConfidenceScores(pool, 3);
    expect(Array.from(scores)).toEqual([0.9, 0.45, 1 / 3, 0.5].map((top) => expect.closeTo(1 - top, 6)));
    expect(topScoring(scores, 4)).toEqual([2, 1, 3, 0]);
  });

  it('margin ranks by the gap between the two most likely classes, smallest gap first', () => {
    // Gaps: 0.85, 0, 0, 0.25. Rows 1 and 2 tie at a zero gap (ties to the lower index).
    const scores = marginScores(pool, 3);
    expect(scores[1]).toBeCloseTo(1, 6);
    expect(scores[3]).toBeCloseTo(0.75, 6);
    expect(topScoring(scores, 4)).toEqual([1, 2, 3, 0]);
  });

  it('entropy ranks by −Σ p log p, the uniform row first; it orders rows 1 and 3 unlike margin', () => {
    const scores = entropyScores(pool, 3);
    const h = (ps: number[]) => -ps.reduce((s, p) => s + p * Math.log(p), 0);
    expect(scores[2]).toBeCloseTo(Math.log(3), 6);
    expect(scores[1]).toBeCloseTo(h([0.45, 0.45, 0.1]), 6);
    expect(scores[3]).toBeCloseTo(h([0.5, 0.25, 0.25]), 6);
    // H(0.5, 0.25, 0.25) = 1.040 > H(0.45, 0.45, 0.1) = 0.983: entropy prefers row 3, margin row 1.
    expect(topScoring(scores, 4)).toEqual([2, 3, 1, 0]);
    expect(entropyScores(Float32Array.from([1, 0, 0]), 3)[0]).toBe(0);
  });

  it('vote entropy counts committee votes; unanimous rows score 0', () => {
    // Four members, three rows: unanimous, 2–2 split, 2–1–1 split.
    const votes = [Int32Array.from([0, 0, 0]), Int32Array.from([0, 0, 1]), Int32Array.from([0, 1, 2]), Int32Array.from([0, 1, 0])];
    const scores = voteEntropyScores(votes, 3);
    expect(scores[0]).toBe(0);
    expect(scores[1]).toBeCloseTo(Math.log(2), 12);
    expect(scores[2]).toBeCloseTo(-(0.5 * Math.log(0.5) + 2 * 0.25 * Math.log(0.25)), 12);
    expect(topScoring(scores, 3)).toEqual([2, 1, 0]);
  });

  it('topScoring skips rows already labeled', () => {
    expect(topScoring([5, 4, 3, 2], 2, new Set([0, 2]))).toEqual([1, 3]);
  });
});

describe('k-center greedy (core-set)', () => {
  it('picks the farthest row from the labeled centers', () => {
    // On a line: 0, 1, 2, 10, 11. Labeled {0}: 11 (row 4) is farthest; then 2 (row 2) is 2 from its center, 10 only 1.
    const line = Float32Array.from([0, 1, 2, 10, 11]);
    expect(kCenterGreedy(line, 1, [0], 2)).toEqual([4, 2]);
  });

  it('covers within twice the optimal radius, checked against brute force on small exact cases', () => {
    const random = new Random(3);
    let strictlyWorse = 0;
    for (let trial = 0; trial < 20; trial++) {
      const count = 9;
      const k = 3;
      // Three loose clusters in 2-D, so the optimum is far from trivial.
      const points = Float32Array.from({ length: count * 2 }, (_, i) => random.normal() + 4 * (Math.floor(i / 2) % 3));
      const greedy = coveringRadius(points, 2, kCenterGreedy(points, 2, [], k, random.int(count)));
      let optimal = Infinity;
      for (let a = 0; a < count; a++)
        for (let b = a + 1; b < count; b++)
          for (let c = b + 1; c < count; c++) optimal = Math.min(optimal, coveringRadius(points, 2, [a, b, c]));
      expect(greedy).toBeLessThanOrEqual(2 * optimal + 1e-6);
      if (greedy > optimal + 1e-6) strictlyWorse++;
    }
    // The bound is not vacuous here: greedy is not simply optimal on these sets.
    expect(strictlyWorse).toBeGreaterThan(0);
  });
});

describe('activeLearning', () => {
  it('queries budget rows per round from the oracle, never twice, and learns separable blobs', async () => {
    const blobs = gaussianBlobs({ count: 300, dim: 8, numClasses: 3, separation: 2, seed: 1 });
    const test = gaussianBlobs({ count: 90, dim: 8, numClasses: 3, separation: 2, seed: 1 });
    const asked: number[][] = [];
    const before = tf.memory().numTensors;
    for (const strategy of ['random', 'least-confidence', 'margin', 'entropy', 'vote-entropy', 'core-set'] as const) {
      const result = await activeLearning({
        pool: blobs,
        numClasses: 3,
        strategy,
        budget: 4,
        rounds: 3,
        seed: 2,
        test,
        committeeSize: 3,
        oracle: (indices) => {
          asked.push([...indices]);
          return indices.map((i) => blobs.labels[i]);
        },
      });
      expect(result.labeledIndices).toHaveLength(12);
      expect(new Set(result.labeledIndices).size).toBe(12);
      expect(result.rounds.map((r) => r.labeled)).toEqual([4, 8, 12]);
      expect(result.rounds[2].testAccuracy).toBeGreaterThan(0.9);
    }
    expect(asked.every((q) => q.length === 4)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects an oracle answer out of range and a budget larger than the pool', async () => {
    const blobs = gaussianBlobs({ count: 20, dim: 2, numClasses: 2, separation: 2, seed: 1 });
    await expect(
      activeLearning({ pool: blobs, numClasses: 2, strategy: 'random', budget: 2, rounds: 1, oracle: (i) => i.map(() => 5) }),
    ).rejects.toThrow(/labels must be integers in \[0, 2\)/);
    await expect(
      activeLearning({ pool: blobs, numClasses: 2, strategy: 'random', budget: 7, rounds: 3, oracle: (i) => i.map(() => 0) }),
    ).rejects.toThrow(/21 labels but the pool has 20/);
  });
});
