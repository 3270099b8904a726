import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { isSslError } from '../errors';
import { BatchLoader, batchesPerEpoch, epochOrder, gatherBatch } from './batches';
import { imageDataset, imageTextDataset, subset } from './dataset';
import { labeledSplit, trainTestSplit } from './splits';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

/** 10 classes × `perClass` images of 2×2×1; pixel value = index % 256 so rows can be traced. */
function toyDataset(perClass: number) {
  const size = 10 * perClass;
  const images = new Uint8Array(size * 4);
  for (let i = 0; i < size; i++) images.fill(i % 256, 4 * i, 4 * i + 4);
  const labels = Int32Array.from({ length: size }, (_, i) => i % 10);
  return imageDataset({ images, shape: [2, 2, 1], labels, name: 'toy' });
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('imageDataset', () => {
  it('converts 0..1 floats and tensors to bytes and validates shapes', () => {
    const ds = imageDataset({ images: Float32Array.from([0, 0.5, 1, 1]), shape: [2, 2, 1] });
    expect(Array.from(ds.images)).toEqual([0, 128, 255, 255]);
    expect(ds.size).toBe(1);
    const tensor = tf.fill([3, 2, 2, 3], 0.25) as tf.Tensor4D;
    const fromTensor = imageDataset({ images: tensor, labels: [0, 1, 1] });
    tensor.dispose();
    expect(fromTensor.shape).toEqual([2, 2, 3]);
    expect(fromTensor.numClasses).toBe(2);
    expect(fromTensor.images[5]).toBe(64);
    expect(isSslError(thrown(() => imageDataset({ images: new Uint8Array(5), shape: [2, 2, 1] })), 'shape-mismatch')).toBe(true);
    expect(isSslError(thrown(() => imageDataset({ images: new Uint8Array(8), shape: [2, 2, 1], labels: [0] })), 'data')).toBe(true);
    expect(isSslError(thrown(() => imageDataset({ images: Float32Array.from([2, 0, 0, 0]), shape: [2, 2, 1] })), 'data')).toBe(true);
    expect(isSslError(thrown(() => imageDataset({ images: new Uint8Array(8), shape: [1, 2, 4] })), 'data')).toBe(true);
    const pairs = imageTextDataset(new Uint8Array(8), [2, 2, 1], ['a', 'b']);
    expect(subset(pairs, [1]).captions).toEqual(['b']);
  });
});

describe('splits', () => {
  it('labeledSplit takes exactly perClass of every class, seeded, disjoint', () => {
    const ds = toyDataset(20);
    const { labeled, unlabeled } = labeledSplit(ds, { perClass: 4, seed: 1 });
    expect(labeled.size).toBe(40);
    expect(unlabeled.size).toBe(160);
    expect(unlabeled.labels).toBeUndefined();
    const counts = new Array(10).fill(0);
    for (const l of labeled.labels!) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(4));
    const seen = new Set([...labeled.images.filter((_, i) => i % 4 === 0), ...unlabeled.images.filter((_, i) => i % 4 === 0)]);
    expect(seen.size).toBe(200);
    const again = labeledSplit(ds, { perClass: 4, seed: 1 });
    expect(again.labeled.images).toEqual(labeled.images);
    const other = labeledSplit(ds, { perClass: 4, seed: 2 });
    expect(other.labeled.images).not.toEqual(labeled.images);
    const byFraction = labeledSplit(ds, { fraction: 0.1, seed: 1 });
    expect(byFraction.labeled.size).toBe(20);
    expect(isSslError(thrown(() => labeledSplit(ds, { perClass: 21, seed: 1 })), 'data')).toBe(true);
  });

  it('trainTestSplit is stratified and deterministic', () => {
    const ds = toyDataset(10);
    const { train, test } = trainTestSplit(ds, { testFraction: 0.2, seed: 5 });
    expect(train.size).toBe(80);
    expect(test.size).toBe(20);
    const counts = new Array(10).fill(0);
    for (const l of test.labels!) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(2));
    expect(trainTestSplit(ds, { testFraction: 0.2, seed: 5 }).test.images).toEqual(test.images);
  });
});

describe('batches', () => {
  it('epochOrder is a permutation, a pure function of (seed, epoch)', () => {
    const a = epochOrder(1000, 7, 3);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(epochOrder(1000, 7, 3)).toEqual(a);
    expect(epochOrder(1000, 7, 4)).not.toEqual(a);
    expect(epochOrder(1000, 8, 3)).not.toEqual(a);
    expect(batchesPerEpoch(1000, 64, true)).toBe(15);
    expect(batchesPerEpoch(1000, 64, false)).toBe(16);
  });

  it('gatherBatch returns float 0..1 images and int32 labels of the given rows', async () => {
    const ds = toyDataset(3);
    const before = tf.memory().numTensors;
    const batch = gatherBatch(ds, [5, 0, 29]);
    expect(batch.images.shape).toEqual([3, 2, 2, 1]);
    expect(batch.images.dtype).toBe('float32');
    expect(batch.labels!.dtype).toBe('int32');
    const values = await batch.images.data();
    expect(values[0]).toBeCloseTo(5 / 255, 6);
    expect(values[8]).toBeCloseTo(29 / 255, 6);
    expect(Array.from(await batch.labels!.data())).toEqual([5, 0, 9]);
    tf.dispose([batch.images, batch.labels!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('BatchLoader: resuming mid-epoch yields the same batches; covers the epoch once', async () => {
    const ds = toyDataset(10);
    const loader = new BatchLoader(ds, { batchSize: 16, seed: 11 });
    expect(loader.batchesPerEpoch).toBe(6);
    const before = tf.memory().numTensors;
    const full: number[][] = [];
    for await (const batch of loader.epoch(2)) {
      full.push(Array.from(batch.indices));
      const pixels = await batch.images.data();
      expect(Math.round(pixels[0] * 255)).toBe(batch.indices[0]);
      tf.dispose([batch.images, batch.labels!]);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(new Set(full.flat()).size).toBe(96);
    const resumed: number[][] = [];
    const fresh = new BatchLoader(ds, { batchSize: 16, seed: 11 });
    for await (const batch of fresh.epoch(2, 3)) {
      resumed.push(Array.from(batch.indices));
      tf.dispose([batch.images, batch.labels!]);
    }
    expect(resumed).toEqual(full.slice(3));
    expect(Array.from(fresh.batchIndices(2, 0))).toEqual(full[0]);
    expect(isSslError(thrown(() => new BatchLoader(ds, { batchSize: 101, seed: 1 })), 'data')).toBe(true);
    expect(new BatchLoader(ds, { batchSize: 101, seed: 1, dropLast: false }).batchesPerEpoch).toBe(1);
    expect(isSslError(thrown(() => new BatchLoader(subset(ds, []), { batchSize: 1, seed: 1 })), 'data')).toBe(true);
  });
});
