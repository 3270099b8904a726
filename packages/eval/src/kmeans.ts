import { Random, SslError } from '@ssl/core';

export interface KMeansOptions {
  k: number;
  /** Seed of the k-means++ draws (default 0). */
  seed?: number;
  /** Lloyd iterations at most per run (default 100). */
  maxIterations?: number;
  /** Independent k-means++ starts; the lowest inertia wins (default 1). */
  restarts?: number;
  /** L2-normalize rows first, i.e. spherical (cosine) k-means, usual for contrastive embeddings (default false). */
  normalize?: boolean;
}

export interface KMeansResult {
  /** Cluster index per row. */
  assignments: Int32Array;
  /** [k, dim] row-major. */
  centroids: Float32Array;
  /** Sum of squared distances of rows to their centroids. */
  inertia: number;
  iterations: number;
}

/**
 * Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007): each new centre is drawn with
 * probability proportional to the squared distance to the nearest centre chosen so far. Seeded, so the
 * same features and seed give the same clustering. Runs on the host in float64 sums.
 */
export function kMeans(features: Float32Array, dim: number, options: KMeansOptions): KMeansResult {
  const count = features.length / dim;
  const { k } = options;
  if (!Number.isInteger(count)) throw new SslError('shape-mismatch', `kMeans: ${features.length} values is not a multiple of dim ${dim}.`);
  if (!Number.isInteger(k) || k <= 0 || k > count)
    throw new SslError('invalid-config', `kMeans k must be an integer in [1, ${count}] (the row count), got ${k}.`);
  const restarts = options.restarts ?? 1;
  if (!Number.isInteger(restarts) || restarts <= 0)
    throw new SslError('invalid-config', `kMeans restarts must be a positive integer, got ${restarts}.`);
  const data = options.normalize ? normalizeRows(features, dim) : features;
  const random = new Random(options.seed ?? 0);
  let best: KMeansResult | undefined;
  for (let run = 0; run < restarts; run++) {
    const result = lloyd(data, dim, count, k, random, options.maxIterations ?? 100);
    if (!best || result.inertia < best.inertia) best = result;
  }
  return best as KMeansResult;
}

function lloyd(data: Float32Array, dim: number, count: number, k: number, random: Random, maxIterations: number): KMeansResult {
  const centroids = kMeansPlusPlus(data, dim, count, k, random);
  const assignments = new Int32Array(count).fill(-1);
  const sums = new Float64Array(k * dim);
  const sizes = new Int32Array(k);
  let iterations = 0;
  let inertia: number;
  for (; iterations < maxIterations;) {
    iterations++;
    let changed = 0;
    inertia = 0;
    for (let row = 0; row < count; row++) {
      const { index, distance } = nearestCentroid(data, row, dim, centroids, k);
      inertia += distance;
      if (assignments[row] !== index) {
        assignments[row] = index;
        changed++;
      }
    }
    if (changed === 0) break;
    sums.fill(0);
    sizes.fill(0);
    for (let row = 0; row < count; row++) {
      const cluster = assignments[row];
      sizes[cluster]++;
      for (let d = 0; d < dim; d++) sums[cluster * dim + d] += data[row * dim + d];
    }
    for (let cluster = 0; cluster < k; cluster++) {
      if (sizes[cluster] === 0) {
        // An empty cluster takes the row farthest from its centroid, so k clusters survive.
        let farthest = 0;
        let farthestDistance = -1;
        for (let row = 0; row < count; row++) {
          const distance = squaredDistance(data, row * dim, centroids, assignments[row] * dim, dim);
          if (distance > farthestDistance) {
            farthestDistance = distance;
            farthest = row;
          }
        }
        centroids.set(data.subarray(farthest * dim, (farthest + 1) * dim), cluster * dim);
        continue;
      }
      for (let d = 0; d < dim; d++) centroids[cluster * dim + d] = sums[cluster * dim + d] / sizes[cluster];
    }
  }
  // Inertia and assignments for the final centroids.
  inertia = 0;
  for (let row = 0; row < count; row++) {
    const { index, distance } = nearestCentroid(data, row, dim, centroids, k);
    assignments[row] = index;
    inertia += distance;
  }
  return { assignments, centroids, inertia, iterations };
}

function kMeansPlusPlus(data: Float32Array, dim: number, count: number, k: number, random: Random): Float32Array {
  const centroids = new Float32Array(k * dim);
  const first = random.int(count);
  centroids.set(data.subarray(first * dim, (first + 1) * dim), 0);
  const nearest = new Float64Array(count);
  for (let row = 0; row < count; row++) nearest[row] = squaredDistance(data, row * dim, centroids, 0, dim);
  for (let cluster = 1; cluster < k; cluster++) {
    let total = 0;
    for (let row = 0; row < count; row++) total += nearest[row];
    let chosen = random.int(count);
    if (total > 0) {
      let target = random.next() * total;
      for (let row = 0; row < count; row++) {
        target -= nearest[row];
        if (target < 0) {
          chosen = row;
          break;
        }
      }
    }
    centroids.set(data.subarray(chosen * dim, (chosen + 1) * dim), cluster * dim);
    for (let row = 0; row < count; row++) {
      nearest[row] = Math.min(nearest[row], squaredDistance(data, row * dim, centroids, cluster * dim, dim));
    }
  }
  return centroids;
}

function nearestCentroid(data: Float32Array, row: number, dim: number, centroids: Float32Array, k: number) {
  let index = 0;
  let distance = Infinity;
  for (let cluster = 0; cluster < k; cluster++) {
    const candidate = squaredDistance(data, row * dim, centroids, cluster * dim, dim);
    if (candidate < distance) {
      distance = candidate;
      index = cluster;
    }
  }
  return { index, distance };
}

function squaredDistance(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, dim: number): number {
  let sum = 0;
  for (let d = 0; d < dim; d++) {
    const diff = a[aOffset + d] - b[bOffset + d];
    sum += diff * diff;
  }
  return sum;
}

/** Rows scaled to unit L2 norm (zero rows stay zero). */
export function normalizeRows(features: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(features.length);
  for (let offset = 0; offset < features.length; offset += dim) {
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += features[offset + d] ** 2;
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    for (let d = 0; d < dim; d++) out[offset + d] = features[offset + d] * scale;
  }
  return out;
}
