import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random } from '@ssl/core';
import { knnClassify, knnScores, nearestNeighbors, topKAccuracy } from './knn';
import type { FeatureSet } from './types';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

function randomSet(count: number, dim: number, numClasses: number, seed: number): FeatureSet {
  const random = new Random(seed);
  return {
    features: Float32Array.from({ length: count * dim }, () => random.normal()),
    dim,
    labels: Int32Array.from({ length: count }, () => random.int(numClasses)),
  };
}

/** Plain-loop reference: cosine similarities, full sort, votes, top-1/top-5 with ties to the lower class. */
function naiveKnn(train: FeatureSet, test: FeatureSet, k: number, weighting: 'exp' | 'majority', temperature: number, numClasses: number) {
  const dim = train.dim;
  const norm = (set: FeatureSet, row: number) => {
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += set.features[row * dim + d] ** 2;
    return Math.sqrt(sum);
  };
  let top1 = 0;
  let top5 = 0;
  const testCount = test.labels.length;
  for (let q = 0; q < testCount; q++) {
    const sims: { index: number; sim: number }[] = [];
    for (let t = 0; t < train.labels.length; t++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += test.features[q * dim + d] * train.features[t * dim + d];
      sims.push({ index: t, sim: dot / (norm(test, q) * norm(train, t)) });
    }
    sims.sort((a, b) => b.sim - a.sim);
    const votes = new Array<number>(numClasses).fill(0);
    for (const { index, sim } of sims.slice(0, k)) votes[train.labels[index]] += weighting === 'exp' ? Math.exp(sim / temperature) : 1;
    const order = votes.map((v, c) => ({ v, c })).sort((a, b) => b.v - a.v || a.c - b.c);
    const rank = order.findIndex((o) => o.c === test.labels[q]);
    if (rank === 0) top1++;
    if (rank < 5) top5++;
  }
  return { top1: top1 / testCount, top5: top5 / testCount };
}

describe('knn', () => {
  const train = randomSet(300, 12, 7, 1);
  const test = randomSet(80, 12, 7, 2);

  it('nearestNeighbors returns the k most cosine-similar train rows in order, chunked or not', async () => {
    const whole = await nearestNeighbors(train, test, { k: 10 });
    const chunked = await nearestNeighbors(train, test, { k: 10, chunkRows: 7 });
    expect(Array.from(chunked.indices)).toEqual(Array.from(whole.indices));
    for (let i = 0; i < 10; i++) {
      for (let j = 1; j < 10; j++) expect(whole.similarities[i * 10 + j]).toBeLessThanOrEqual(whole.similarities[i * 10 + j - 1]);
    }
  });

  it('equals the previous one-chunk search (matMul + topk over all train rows) with small blocks and exact ties', async () => {
    // Every train row twice (rows 150…299 repeat 0…149): their similarities tie exactly, and the lower index must come first.
    const base = randomSet(150, 12, 7, 3);
    const withTies: FeatureSet = {
      features: Float32Array.from([...base.features, ...base.features]),
      dim: 12,
      labels: Int32Array.from([...base.labels, ...base.labels]),
    };
    const previous = tf.tidy(() => {
      const normalize = (x: tf.Tensor2D) => tf.div(x, tf.add(tf.norm(x, 'euclidean', 1, true), 1e-12));
      const trainNormalized = normalize(tf.tensor2d(withTies.features, [300, 12]));
      const queries = normalize(tf.tensor2d(test.features, [80, 12]));
      return tf.topk(tf.transpose(tf.matMul(trainNormalized, tf.transpose(queries))), 25, true);
    });
    const expectedIndices = Array.from(await previous.indices.data());
    const expectedSimilarities = await previous.values.data();
    tf.dispose([previous.indices, previous.values]);
    for (const blocks of [{}, { chunkRows: 7, trainBlockRows: 13 }, { chunkRows: 80, trainBlockRows: 25 }]) {
      const found = await nearestNeighbors(withTies, test, { k: 25, ...blocks });
      expect(Array.from(found.indices)).toEqual(expectedIndices);
      for (let i = 0; i < found.similarities.length; i++) expect(found.similarities[i]).toBeCloseTo(expectedSimilarities[i], 6);
      // Each tie pair appears lower index first.
      for (let q = 0; q < 80; q++) {
        const row = Array.from(found.indices.subarray(q * 25, q * 25 + 25));
        for (const index of row) {
          if (index < 150) continue;
          expect(row.indexOf(index - 150)).toBeGreaterThanOrEqual(0);
          expect(row.indexOf(index - 150)).toBeLessThan(row.indexOf(index));
        }
      }
    }
  });

  for (const weighting of ['exp', 'majority'] as const) {
    it(`matches a naive loop implementation (${weighting})`, async () => {
      for (const k of [1, 5, 20]) {
        const fast = await knnClassify(train, test, { k, weighting, temperature: 0.07, chunkRows: 16 });
        const slow = naiveKnn(train, test, k, weighting, 0.07, 7);
        expect(fast.top1).toBeCloseTo(slow.top1, 10);
        expect(fast.top5).toBeCloseTo(slow.top5, 10);
      }
    });
  }

  it('classifies separable data, and majority differs from exp when close neighbours are outvoted', async () => {
    // One test point at the origin direction (1, 0): two class-0 neighbours very close, three class-1 further away.
    const trainSet: FeatureSet = {
      features: Float32Array.from([1, 0.01, 1, -0.01, 1, 0.5, 1, -0.5, 1, 0.55]),
      dim: 2,
      labels: Int32Array.from([0, 0, 1, 1, 1]),
    };
    const testSet: FeatureSet = { features: Float32Array.from([1, 0]), dim: 2, labels: Int32Array.from([0]) };
    expect((await knnClassify(trainSet, testSet, { k: 5, weighting: 'exp' })).top1).toBe(1);
    expect((await knnClassify(trainSet, testSet, { k: 5, weighting: 'majority' })).top1).toBe(0);
  });

  it('topKAccuracy breaks ties towards the lower class and omits top-5 for <= 5 classes', () => {
    const scores = Float32Array.from([1, 1, 0, 0, 2, 2]);
    expect(topKAccuracy(scores, Int32Array.from([0, 2]), 3)).toEqual({ top1: 0.5 });
  });

  it('keeps the tensor count flat and validates k', async () => {
    const before = tf.memory().numTensors;
    await knnClassify(train, test, { k: 5 });
    expect(tf.memory().numTensors).toBe(before);
    await expect(knnClassify(train, test, { k: 301 })).rejects.toThrow(/k must be an integer/);
    const neighbors = await nearestNeighbors(train, test, { k: 3 });
    expect(() => knnScores(neighbors, train.labels, { k: 4, numClasses: 7 })).toThrow(/neighbours computed/);
  });
});
