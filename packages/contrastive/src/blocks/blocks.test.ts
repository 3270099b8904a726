import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createFeatureQueue, enqueueFeatures, enqueuedFeatures } from './feature-queue';
import { createMemoryBank, updatedMemoryBank } from './memory-bank';
import { nearestNeighbours } from './nearest-neighbours';
import { Random, expectClose, expectNoLeak, expectSslError, randomValues, useCpuBackend } from '@ssl/test-utils';

beforeAll(useCpuBackend);

/** MoCo's _dequeue_and_enqueue with loops, wrapping at K: row (ptr + i) mod K ← batch row i. */
function referenceEnqueue(queue: number[][], pointer: number, batch: number[][]): { queue: number[][]; pointer: number } {
  const next = queue.map((row) => [...row]);
  batch.forEach((row, i) => (next[(pointer + i) % queue.length] = [...row]));
  return { queue: next, pointer: (pointer + batch.length) % queue.length };
}

const rows = (t: tf.Tensor): number[][] => t.arraySync() as number[][];

describe('feature queue', () => {
  it('starts with unit rows and the pointer at 0', () => {
    const queue = createFeatureQueue({ size: 6, dim: 3, seed: 1 });
    for (const row of rows(queue.features)) expectClose(Math.hypot(...row), 1, { relative: 1e-6 });
    expect(Array.from(queue.pointer.dataSync())).toEqual([0]);
    tf.dispose([queue.features, queue.pointer]);
  });

  it('writes batches at the pointer, FIFO and wrapping around, exactly as the loop reference', () => {
    const rng = new Random(3);
    const size = 5;
    const dim = 2;
    const queue = createFeatureQueue({ size, dim, seed: 2 });
    let expected = { queue: rows(queue.features), pointer: 0 };
    // Batches of 2 into 5 rows: the third batch wraps (rows 4 and 0).
    for (let step = 0; step < 6; step++) {
      const batch = Array.from({ length: 2 }, () => Array.from(randomValues(rng, dim)));
      enqueueFeatures(queue, tf.tensor2d(batch));
      expected = referenceEnqueue(expected.queue, expected.pointer, batch);
      expect(rows(queue.features)).toEqual(expected.queue.map((row) => row.map((v) => Math.fround(v))));
      expect(Array.from(queue.pointer.dataSync())).toEqual([expected.pointer]);
    }
    tf.dispose([queue.features, queue.pointer]);
  });

  it('holds the newest K keys, newest just before the pointer, when K is a multiple of the batch', () => {
    const queue = createFeatureQueue({ size: 4, dim: 1, seed: 2 });
    for (let step = 1; step <= 5; step++) enqueueFeatures(queue, tf.tensor2d([[step * 10], [step * 10 + 1]]));
    // Steps 4 and 5 remain; step 5 (the newest) was written at rows 0–1, so the pointer is back at 2.
    expect(rows(queue.features).flat()).toEqual([50, 51, 40, 41]);
    expect(Array.from(queue.pointer.dataSync())).toEqual([2]);
    tf.dispose([queue.features, queue.pointer]);
  });

  it('leaves no tensors behind and rejects a batch that does not fit', () => {
    const queue = createFeatureQueue({ size: 3, dim: 2, seed: 2 });
    const batch = tf.ones([2, 2]) as tf.Tensor2D;
    expectNoLeak(() => enqueueFeatures(queue, batch) ?? []);
    expectSslError(
      () => enqueuedFeatures(queue.features as never, queue.pointer as never, tf.ones([4, 2]) as tf.Tensor2D),
      'shape-mismatch',
    );
    expectSslError(
      () => enqueuedFeatures(queue.features as never, queue.pointer as never, tf.ones([1, 3]) as tf.Tensor2D),
      'shape-mismatch',
    );
    tf.dispose([queue.features, queue.pointer, batch]);
  });
});

describe('memory bank', () => {
  it('moves the rows of the batch by the proximal update and renormalizes them; other rows are untouched', () => {
    const rng = new Random(4);
    const bank = createMemoryBank({ size: 6, dim: 3, seed: 5 });
    const before = rows(bank);
    const features = [Array.from(randomValues(rng, 3)), Array.from(randomValues(rng, 3))];
    const ids = new Int32Array([4, 1]);
    const momentum = 0.5;
    const after = tf.tidy(() => rows(updatedMemoryBank(bank as unknown as tf.Tensor2D, ids, tf.tensor2d(features), momentum)));
    for (let row = 0; row < 6; row++) {
      const slot = Array.from(ids).indexOf(row);
      if (slot < 0) {
        expect(after[row]).toEqual(before[row]);
        continue;
      }
      const mixed = before[row].map((v, c) => momentum * v + (1 - momentum) * features[slot][c]);
      const norm = Math.hypot(...mixed);
      expectClose(
        after[row],
        mixed.map((v) => v / norm),
        { relative: 1e-5 },
      );
    }
    const ones = tf.ones([2, 3]) as tf.Tensor2D;
    expectNoLeak(() => updatedMemoryBank(bank as unknown as tf.Tensor2D, ids, ones, momentum));
    ones.dispose();
    expectSslError(
      () => updatedMemoryBank(bank as unknown as tf.Tensor2D, new Int32Array([6, 0]), tf.ones([2, 3]) as tf.Tensor2D, momentum),
      'shape-mismatch',
    );
    expectSslError(
      () => updatedMemoryBank(bank as unknown as tf.Tensor2D, ids, tf.ones([2, 2]) as tf.Tensor2D, momentum),
      'shape-mismatch',
    );
    bank.dispose();
  });
});

describe('nearestNeighbours', () => {
  it('returns the support row of largest cosine for each query, as stored, with no gradient', () => {
    const rng = new Random(6);
    const queries = randomValues(rng, 4 * 3);
    const support = randomValues(rng, 7 * 3, 2);
    const got = tf.tidy(() => rows(nearestNeighbours(tf.tensor2d(queries, [4, 3]), tf.tensor2d(support, [7, 3]))));
    for (let i = 0; i < 4; i++) {
      let best = -1;
      let bestCosine = -Infinity;
      for (let j = 0; j < 7; j++) {
        let dot = 0;
        let norm = 0;
        for (let c = 0; c < 3; c++) {
          dot += queries[i * 3 + c] * support[j * 3 + c];
          norm += support[j * 3 + c] ** 2;
        }
        const cosine = dot / Math.sqrt(norm);
        if (cosine > bestCosine) [best, bestCosine] = [j, cosine];
      }
      expect(got[i]).toEqual(Array.from(support.slice(best * 3, best * 3 + 3)));
    }
    const gradient = tf.tidy(
      () =>
        tf
          .grad((q: tf.Tensor) => tf.sum(nearestNeighbours(q as tf.Tensor2D, tf.tensor2d(support, [7, 3]))))(tf.tensor2d(queries, [4, 3]))
          .abs()
          .sum()
          .dataSync()[0],
    );
    expect(gradient).toBe(0);
  });
});
