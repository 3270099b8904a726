import { SslError } from '@ssl/core';
import { featureCount } from './feature-set';
import { hungarian } from './hungarian';
import { kMeans } from './kmeans';
import type { FeatureSet } from './types';

interface Contingency {
  table: Float64Array;
  labelValues: number[];
  clusterValues: number[];
  labelTotals: Float64Array;
  clusterTotals: Float64Array;
  count: number;
}

function contingency(labels: ArrayLike<number>, clusters: ArrayLike<number>): Contingency {
  if (labels.length !== clusters.length) {
    throw new SslError(
      'shape-mismatch',
      `Got ${labels.length} labels but ${clusters.length} cluster assignments: pass one of each per row.`,
    );
  }
  const labelValues = [...new Set(Array.from(labels))].sort((a, b) => a - b);
  const clusterValues = [...new Set(Array.from(clusters))].sort((a, b) => a - b);
  const labelIndex = new Map(labelValues.map((v, i) => [v, i]));
  const clusterIndex = new Map(clusterValues.map((v, i) => [v, i]));
  const table = new Float64Array(labelValues.length * clusterValues.length);
  const labelTotals = new Float64Array(labelValues.length);
  const clusterTotals = new Float64Array(clusterValues.length);
  for (let i = 0; i < labels.length; i++) {
    const a = labelIndex.get(labels[i]) as number;
    const b = clusterIndex.get(clusters[i]) as number;
    table[a * clusterValues.length + b]++;
    labelTotals[a]++;
    clusterTotals[b]++;
  }
  return { table, labelValues, clusterValues, labelTotals, clusterTotals, count: labels.length };
}

function entropy(totals: Float64Array, count: number): number {
  let h = 0;
  for (const n of totals) if (n > 0) h -= (n / count) * Math.log(n / count);
  return h;
}

/**
 * Normalized mutual information with the arithmetic-mean normalization, I(U;V) / ((H(U) + H(V)) / 2)
 * (Strehl & Ghosh 2002 use the geometric mean; the arithmetic one is scikit-learn's default). Two
 * single-cluster partitions count as identical (1).
 */
export function normalizedMutualInformation(labels: ArrayLike<number>, clusters: ArrayLike<number>): number {
  const c = contingency(labels, clusters);
  const labelEntropy = entropy(c.labelTotals, c.count);
  const clusterEntropy = entropy(c.clusterTotals, c.count);
  if (labelEntropy === 0 && clusterEntropy === 0) return 1;
  let mutualInformation = 0;
  const columns = c.clusterValues.length;
  for (let a = 0; a < c.labelValues.length; a++) {
    for (let b = 0; b < columns; b++) {
      const n = c.table[a * columns + b];
      if (n > 0) mutualInformation += (n / c.count) * Math.log((n * c.count) / (c.labelTotals[a] * c.clusterTotals[b]));
    }
  }
  return Math.max(0, mutualInformation) / ((labelEntropy + clusterEntropy) / 2);
}

/** Adjusted Rand index (Hubert & Arabie 1985): pair-counting agreement corrected for chance; 1 = identical, ~0 = random. */
export function adjustedRandIndex(labels: ArrayLike<number>, clusters: ArrayLike<number>): number {
  const c = contingency(labels, clusters);
  const pairs = (n: number) => (n * (n - 1)) / 2;
  let sumTable = 0;
  for (const n of c.table) sumTable += pairs(n);
  let sumLabels = 0;
  for (const n of c.labelTotals) sumLabels += pairs(n);
  let sumClusters = 0;
  for (const n of c.clusterTotals) sumClusters += pairs(n);
  const expected = (sumLabels * sumClusters) / pairs(c.count);
  const maximum = (sumLabels + sumClusters) / 2;
  if (maximum === expected) return 1;
  return (sumTable - expected) / (maximum - expected);
}

/**
 * Cluster accuracy: the fraction of rows whose cluster maps to their label under the best one-to-one
 * mapping of clusters to labels, found with the Hungarian algorithm (as in DEC, Xie et al. 2016).
 */
export function clusterAccuracy(labels: ArrayLike<number>, clusters: ArrayLike<number>): number {
  const c = contingency(labels, clusters);
  const labelsCount = c.labelValues.length;
  const clustersCount = c.clusterValues.length;
  // Minimize the negated overlap; the smaller side goes on the rows.
  const size = Math.max(labelsCount, clustersCount);
  const cost = new Float64Array(size * size);
  for (let a = 0; a < labelsCount; a++) {
    for (let b = 0; b < clustersCount; b++) cost[b * size + a] = -c.table[a * clustersCount + b];
  }
  const assignment = hungarian(cost, size, size);
  let matched = 0;
  for (let cluster = 0; cluster < size; cluster++) matched -= cost[cluster * size + assignment[cluster]];
  return c.count === 0 ? 0 : matched / c.count;
}

export interface ClusteringEvalOptions {
  /** Clusters (default: the number of classes). */
  k?: number;
  seed?: number;
  restarts?: number;
  normalize?: boolean;
  maxIterations?: number;
}

export interface ClusteringEvalResult {
  nmi: number;
  ari: number;
  accuracy: number;
  assignments: Int32Array;
  inertia: number;
}

/** k-means on frozen features, scored against the labels with NMI, ARI and Hungarian-matched accuracy. */
export function clusteringEval(set: FeatureSet, options: ClusteringEvalOptions = {}): ClusteringEvalResult {
  featureCount(set);
  const k = options.k ?? new Set(Array.from(set.labels)).size;
  const result = kMeans(set.features, set.dim, {
    k,
    seed: options.seed,
    restarts: options.restarts,
    normalize: options.normalize,
    maxIterations: options.maxIterations,
  });
  return {
    nmi: normalizedMutualInformation(set.labels, result.assignments),
    ari: adjustedRandIndex(set.labels, result.assignments),
    accuracy: clusterAccuracy(set.labels, result.assignments),
    assignments: result.assignments,
    inertia: result.inertia,
  };
}
