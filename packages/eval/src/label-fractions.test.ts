import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { labelFractionEval } from './label-fractions';
import { gaussianBlobs } from './test-data';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('labelFractionEval', () => {
  const train = gaussianBlobs({ count: 1000, dim: 12, numClasses: 10, separation: 0.45, seed: 1 });
  const test = gaussianBlobs({ count: 500, dim: 12, numClasses: 10, separation: 0.45, seed: 1 });

  it('draws class-balanced subsets of the requested size and accuracy grows with labels', async () => {
    const rows = await labelFractionEval(train, test, { fractions: [0.01, 0.5], perClass: [3], seeds: [0, 1, 2], method: 'linear' });
    expect(rows.map((r) => r.labeled)).toEqual([10, 500, 30]);
    expect(rows[0].fraction).toBe(0.01);
    expect(rows[2].perClass).toBe(3);
    expect(rows[0].top1.count).toBe(3);
    expect(rows[0].top1.std).toBeGreaterThan(0);
    expect(rows[1].top1.mean).toBeGreaterThan(rows[0].top1.mean + 0.1);
    expect(rows[1].top5).toBeDefined();
  });

  it('is reproducible per seed and runs kNN with k capped at the labeled count', async () => {
    const first = await labelFractionEval(train, test, { perClass: [2], seeds: [5], method: 'knn', knn: { k: 200 } });
    const second = await labelFractionEval(train, test, { perClass: [2], seeds: [5], method: 'knn', knn: { k: 200 } });
    expect(first[0].top1.mean).toBe(second[0].top1.mean);
    expect(first[0].labeled).toBe(20);
  });

  it('rejects a call without fractions or seeds', async () => {
    await expect(labelFractionEval(train, test, { seeds: [0], method: 'knn' })).rejects.toThrow(/fractions/);
    await expect(labelFractionEval(train, test, { fractions: [0.1], seeds: [], method: 'knn' })).rejects.toThrow(/seed/);
  });
});
