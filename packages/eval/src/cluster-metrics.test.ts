import { describe, expect, it } from 'vitest';
import { adjustedRandIndex, clusterAccuracy, clusteringEval, normalizedMutualInformation } from './cluster-metrics';
import { kMeans } from './kmeans';
import { gaussianBlobs } from './test-data';

describe('clustering metrics', () => {
  it('score a relabelled perfect clustering as 1 and are symmetric under renaming', () => {
    const labels = [0, 0, 1, 1, 2, 2];
    const clusters = [5, 5, 3, 3, 9, 9];
    expect(normalizedMutualInformation(labels, clusters)).toBeCloseTo(1, 12);
    expect(adjustedRandIndex(labels, clusters)).toBeCloseTo(1, 12);
    expect(clusterAccuracy(labels, clusters)).toBe(1);
  });

  it('match hand-computed values', () => {
    // Independent 2 x 2 split: I = 0; ARI = (0 - 2/3) / (2 - 2/3) = -0.5; accuracy 1/2.
    expect(normalizedMutualInformation([0, 0, 1, 1], [0, 1, 0, 1])).toBeCloseTo(0, 12);
    expect(adjustedRandIndex([0, 0, 1, 1], [0, 1, 0, 1])).toBeCloseTo(-0.5, 12);
    expect(clusterAccuracy([0, 0, 1, 1], [0, 1, 0, 1])).toBe(0.5);
    // labels 000111 vs clusters 001122: I = (2/3) ln 2, H(U) = ln 2, H(V) = ln 3.
    const labels = [0, 0, 0, 1, 1, 1];
    const clusters = [0, 0, 1, 1, 2, 2];
    expect(normalizedMutualInformation(labels, clusters)).toBeCloseTo(((2 / 3) * Math.LN2) / ((Math.LN2 + Math.log(3)) / 2), 12);
    // sum C(n_ij, 2) = 2, sum C(a_i, 2) = 6, sum C(b_j, 2) = 3, C(6, 2) = 15: (2 - 1.2) / (4.5 - 1.2).
    expect(adjustedRandIndex(labels, clusters)).toBeCloseTo(0.8 / 3.3, 12);
    // Best mapping: cluster 0 -> label 0 (2 rows), cluster 2 -> label 1 (2 rows), cluster 1 unmatched: 4/6.
    expect(clusterAccuracy(labels, clusters)).toBeCloseTo(4 / 6, 12);
  });

  it('cluster accuracy uses the best one-to-one mapping, not the majority label per cluster', () => {
    // Each cluster holds two label-0 rows and one label-1 row. Majority voting would score 4/6; a one-to-one
    // map gives label 0 to one cluster (2 rows) and label 1 to the other (1 row): 3/6.
    expect(clusterAccuracy([0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 1, 0])).toBeCloseTo(3 / 6, 12);
  });
});

describe('kMeans', () => {
  it('recovers well-separated blobs, deterministically for a seed', () => {
    const blobs = gaussianBlobs({ count: 300, dim: 5, numClasses: 4, separation: 8, seed: 11 });
    const first = kMeans(blobs.features, 5, { k: 4, seed: 3, restarts: 3 });
    const second = kMeans(blobs.features, 5, { k: 4, seed: 3, restarts: 3 });
    expect(Array.from(second.assignments)).toEqual(Array.from(first.assignments));
    const scores = clusteringEval(blobs, { seed: 3, restarts: 3 });
    expect(scores.accuracy).toBe(1);
    expect(scores.nmi).toBeCloseTo(1, 10);
    expect(scores.ari).toBeCloseTo(1, 10);
  });

  it('gives near-zero NMI/ARI on structureless noise', () => {
    const noise = gaussianBlobs({ count: 400, dim: 5, numClasses: 4, separation: 0, seed: 12 });
    const scores = clusteringEval(noise, { seed: 1 });
    expect(scores.nmi).toBeLessThan(0.05);
    expect(Math.abs(scores.ari)).toBeLessThan(0.05);
  });

  it('lowers inertia monotonically in k on the same data', () => {
    const blobs = gaussianBlobs({ count: 200, dim: 3, numClasses: 3, separation: 4, seed: 13 });
    const inertias = [1, 2, 3].map((k) => kMeans(blobs.features, 3, { k, seed: 0, restarts: 2 }).inertia);
    expect(inertias[1]).toBeLessThan(inertias[0]);
    expect(inertias[2]).toBeLessThan(inertias[1]);
  });
});
