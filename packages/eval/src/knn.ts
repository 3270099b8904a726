import * as tf from '@tensorflow/tfjs-core';
import { SslError } from '@ssl/core';
import { assertSameDim, countClasses, featureCount } from './feature-set';
import type { Accuracy, FeatureSet } from './types';

export interface NearestNeighbors {
  /** Neighbours per test row. */
  readonly k: number;
  /** [testCount, k] indices into the train rows, most similar first. */
  readonly indices: Int32Array;
  /** [testCount, k] cosine similarities matching `indices`. */
  readonly similarities: Float32Array;
}

export interface NearestNeighborsOptions {
  k: number;
  /** Test rows per block (default: all of them, at most 2048). */
  chunkRows?: number;
  /** Train rows per block (default: a block of about 8M similarities, 32 MB, with at least k rows). */
  trainBlockRows?: number;
}

/**
 * The k train rows of highest cosine similarity for every test row, ties to the lower train index.
 * One blocked matrix product: rows are L2-normalized once, then each (train block × test block) of
 * similarities is one matMul on the backend, and a running top-k per test row (a min-heap of k entries
 * whose root is the k-th best so far) absorbs the block in one pass over it on the host, so most
 * similarities are rejected by a single comparison. Memory stays at one block plus k entries per test row.
 */
export async function nearestNeighbors(train: FeatureSet, test: FeatureSet, options: NearestNeighborsOptions): Promise<NearestNeighbors> {
  const trainCount = featureCount(train, 'train');
  const testCount = featureCount(test, 'test');
  assertSameDim(train, test);
  const k = options.k;
  if (!Number.isInteger(k) || k <= 0 || k > trainCount) {
    throw new SslError('invalid-config', `kNN k must be an integer in [1, ${trainCount}] (the train size), got ${k}.`);
  }
  const chunkRows = options.chunkRows ?? Math.max(1, Math.min(testCount, 2048));
  if (!Number.isInteger(chunkRows) || chunkRows <= 0) {
    throw new SslError('invalid-config', `kNN chunkRows must be a positive integer, got ${chunkRows}.`);
  }
  const trainBlockRows = options.trainBlockRows ?? Math.max(k, Math.floor(8_388_608 / chunkRows));
  if (!Number.isInteger(trainBlockRows) || trainBlockRows <= 0) {
    throw new SslError('invalid-config', `kNN trainBlockRows must be a positive integer, got ${trainBlockRows}.`);
  }
  const dim = train.dim;
  const indices = new Int32Array(testCount * k);
  const similarities = new Float32Array(testCount * k);
  const trainNormalized = tf.tensor2d(l2NormalizeRows(train.features, dim), [trainCount, dim]);
  try {
    for (let start = 0; start < testCount; start += chunkRows) {
      const rows = Math.min(chunkRows, testCount - start);
      const heaps = new TopKHeaps(rows, k);
      // Transposed once per test block: train·queriesᵀ keeps the small operand on the right, which GEMM
      // kernels (XNNPACK on wasm) pack; packing the train block instead ran at half the speed.
      const queriesTransposed = tf.tidy(() =>
        tf.transpose(tf.tensor2d(l2NormalizeRows(test.features.subarray(start * dim, (start + rows) * dim), dim), [rows, dim])),
      );
      try {
        for (let blockStart = 0; blockStart < trainCount; blockStart += trainBlockRows) {
          const blockRows = Math.min(trainBlockRows, trainCount - blockStart);
          const block = tf.tidy(() => tf.matMul(tf.slice(trainNormalized, [blockStart, 0], [blockRows, dim]), queriesTransposed));
          try {
            heaps.absorb((await block.data()) as Float32Array, blockRows, blockStart);
          } finally {
            block.dispose();
          }
        }
      } finally {
        queriesTransposed.dispose();
      }
      heaps.writeSorted(indices, similarities, start * k);
    }
  } finally {
    trainNormalized.dispose();
  }
  return { k, indices, similarities };
}

/** Rows divided by their L2 norm; the epsilon keeps an all-zero row at zero instead of NaN. */
function l2NormalizeRows(features: Float32Array, dim: number): Float32Array {
  const normalized = new Float32Array(features.length);
  for (let offset = 0; offset < features.length; offset += dim) {
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += features[offset + d] * features[offset + d];
    const scale = 1 / (Math.sqrt(sum) + 1e-12);
    for (let d = 0; d < dim; d++) normalized[offset + d] = features[offset + d] * scale;
  }
  return normalized;
}

/**
 * A running top-k per query: one binary min-heap of k (similarity, train index) entries each, the root being
 * the worst kept entry (lowest similarity; among equals the higher index). Train rows arrive in increasing
 * index order, so a later row that only ties the root is never better, and ties resolve to the lower index.
 */
class TopKHeaps {
  private readonly values: Float32Array;
  private readonly indices: Int32Array;
  private readonly sizes: Int32Array;
  /** The root's similarity once the heap is full (-Infinity before), the bar a new entry has to beat. */
  private readonly thresholds: Float32Array;

  constructor(
    private readonly queries: number,
    private readonly k: number,
  ) {
    this.values = new Float32Array(queries * k);
    this.indices = new Int32Array(queries * k);
    this.sizes = new Int32Array(queries);
    this.thresholds = new Float32Array(queries).fill(-Infinity);
  }

  /** Takes a [blockRows, queries] block of similarities of train rows blockStart … blockStart + blockRows − 1. */
  absorb(block: Float32Array, blockRows: number, blockStart: number): void {
    const { queries, thresholds } = this;
    for (let row = 0; row < blockRows; row++) {
      const offset = row * queries;
      for (let query = 0; query < queries; query++) {
        const value = block[offset + query];
        if (value > thresholds[query]) this.push(query, value, blockStart + row);
      }
    }
  }

  private push(query: number, value: number, index: number): void {
    const { k, values, indices } = this;
    const base = query * k;
    let size = this.sizes[query];
    if (size < k) {
      // Sift up from the new leaf.
      let at = size++;
      while (at > 0) {
        const parent = (at - 1) >> 1;
        if (!worse(value, index, values[base + parent], indices[base + parent])) break;
        values[base + at] = values[base + parent];
        indices[base + at] = indices[base + parent];
        at = parent;
      }
      values[base + at] = value;
      indices[base + at] = index;
      this.sizes[query] = size;
      if (size === k) this.thresholds[query] = values[base];
      return;
    }
    // Replace the root and sift down.
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= k) break;
      const right = left + 1;
      let child = left;
      if (right < k && worse(values[base + right], indices[base + right], values[base + left], indices[base + left])) child = right;
      if (!worse(values[base + child], indices[base + child], value, index)) break;
      values[base + at] = values[base + child];
      indices[base + at] = indices[base + child];
      at = child;
    }
    values[base + at] = value;
    indices[base + at] = index;
    this.thresholds[query] = values[base];
  }

  /** Each query's entries, best first, into [queries, k] arrays from `offset`. */
  writeSorted(indicesOut: Int32Array, similaritiesOut: Float32Array, offset: number): void {
    const { k, values, indices } = this;
    const order = Array.from({ length: k }, (_, i) => i);
    for (let query = 0; query < this.queries; query++) {
      const base = query * k;
      order.sort((a, b) => values[base + b] - values[base + a] || indices[base + a] - indices[base + b]);
      for (let j = 0; j < k; j++) {
        indicesOut[offset + query * k + j] = indices[base + order[j]];
        similaritiesOut[offset + query * k + j] = values[base + order[j]];
      }
    }
  }
}

/** Whether entry a ranks below entry b: lower similarity, or equal similarity and higher train index. */
function worse(valueA: number, indexA: number, valueB: number, indexB: number): boolean {
  return valueA < valueB || (valueA === valueB && indexA > indexB);
}

export type KnnWeighting = 'exp' | 'majority';

export interface KnnVoteOptions {
  /** Neighbours that vote; at most the k the neighbours were computed with (default: all of them). */
  k?: number;
  /** Temperature of the exp weighting (default 0.07, Wu et al. 2018). */
  temperature?: number;
  /** 'exp': each neighbour votes exp(similarity / temperature); 'majority': one vote each. Default 'exp'. */
  weighting?: KnnWeighting;
  numClasses: number;
}

/**
 * Class scores from neighbour votes, [testCount, numClasses]. Weighted votes follow Wu et al. 2018
 * (instance discrimination): w = exp(s / tau) with tau = 0.07, k = 200.
 */
export function knnScores(neighbors: NearestNeighbors, trainLabels: Int32Array, options: KnnVoteOptions): Float32Array {
  const k = options.k ?? neighbors.k;
  if (!Number.isInteger(k) || k <= 0 || k > neighbors.k) {
    throw new SslError('invalid-config', `kNN vote k must be an integer in [1, ${neighbors.k}] (the neighbours computed), got ${k}.`);
  }
  const temperature = options.temperature ?? 0.07;
  if (!(temperature > 0)) throw new SslError('invalid-config', `kNN temperature must be > 0, got ${temperature}.`);
  const weighting = options.weighting ?? 'exp';
  if (weighting !== 'exp' && weighting !== 'majority') {
    throw new SslError('invalid-config', `kNN weighting must be 'exp' or 'majority', got ${String(weighting)}.`);
  }
  const numClasses = options.numClasses;
  const testCount = neighbors.indices.length / neighbors.k;
  const scores = new Float32Array(testCount * numClasses);
  for (let row = 0; row < testCount; row++) {
    for (let j = 0; j < k; j++) {
      const at = row * neighbors.k + j;
      const label = trainLabels[neighbors.indices[at]];
      // Shifting by 1 (the largest cosine) keeps exp() in range; a common factor does not change the ranking.
      const vote = weighting === 'exp' ? Math.exp((neighbors.similarities[at] - 1) / temperature) : 1;
      scores[row * numClasses + label] += vote;
    }
  }
  return scores;
}

/**
 * Top-1 and top-5 accuracy from class scores [count, numClasses]. Ties go to the lower class index, so
 * results are deterministic.
 */
export function topKAccuracy(scores: Float32Array, labels: Int32Array, numClasses: number): Accuracy {
  const count = labels.length;
  let top1 = 0;
  let top5 = 0;
  for (let row = 0; row < count; row++) {
    const offset = row * numClasses;
    const target = scores[offset + labels[row]];
    // Rank of the true class: classes scoring higher, or equal with a lower index, come before it.
    let rank = 0;
    for (let c = 0; c < numClasses; c++) {
      const score = scores[offset + c];
      if (score > target || (score === target && c < labels[row])) rank++;
    }
    if (rank === 0) top1++;
    if (rank < 5) top5++;
  }
  const result: Accuracy = { top1: count === 0 ? 0 : top1 / count };
  if (numClasses > 5) result.top5 = count === 0 ? 0 : top5 / count;
  return result;
}

export interface KnnClassifyOptions {
  /** Neighbours (default 200, Wu et al. 2018). */
  k?: number;
  temperature?: number;
  weighting?: KnnWeighting;
  chunkRows?: number;
  trainBlockRows?: number;
}

/** Cosine kNN classifier of test rows against train rows: weighted (default) or majority vote. */
export async function knnClassify(train: FeatureSet, test: FeatureSet, options: KnnClassifyOptions = {}): Promise<Accuracy> {
  const trainCount = featureCount(train, 'train');
  featureCount(test, 'test');
  const numClasses = Math.max(countClasses(train.labels, 'train.labels'), countClasses(test.labels, 'test.labels'));
  const k = options.k ?? Math.min(200, trainCount);
  const neighbors = await nearestNeighbors(train, test, { k, chunkRows: options.chunkRows, trainBlockRows: options.trainBlockRows });
  const scores = knnScores(neighbors, train.labels, { k, temperature: options.temperature, weighting: options.weighting, numClasses });
  return topKAccuracy(scores, test.labels, numClasses);
}
