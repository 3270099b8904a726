import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { flattenEncoder } from './extract-features';
import { knnMonitor } from './knn-monitor';
import type { LabeledImageDataset } from './types';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

/** Six classes: the bright row band of a 6x6 image is the label. */
function bands(size: number, offset: number): LabeledImageDataset {
  const images = new Uint8Array(size * 36);
  const labels = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    labels[i] = i % 6;
    for (let p = 0; p < 36; p++) images[i * 36 + p] = Math.floor(p / 6) === labels[i] ? 200 : ((i + offset) * 31 + p * 7) % 80;
  }
  return { images, shape: [6, 6, 1], labels, numClasses: 6, size, name: 'bands' };
}

describe('knnMonitor', () => {
  it('logs kNN accuracy and collapse metrics every N epochs only', async () => {
    const monitor = knnMonitor({ train: bands(120, 0), test: bands(60, 7), every: 2, k: 10, maxTrain: 90, maxTest: 30 });
    expect(monitor.name).toBe('knn-monitor');
    const logged: { epoch: number; metrics: Record<string, number> }[] = [];
    const encoder = flattenEncoder();
    const before = tf.memory().numTensors;
    for (let epoch = 0; epoch < 4; epoch++) await monitor.onEpochEnd({ epoch, encoder, log: (metrics) => logged.push({ epoch, metrics }) });
    expect(tf.memory().numTensors).toBe(before);
    expect(logged.map((entry) => entry.epoch)).toEqual([1, 3]);
    expect(logged[0].metrics.knn_top1).toBe(1);
    expect(logged[0].metrics.knn_top5).toBe(1);
    expect(logged[0].metrics.rankme).toBeGreaterThan(1);
    expect(logged[0].metrics.per_dim_std).toBeGreaterThan(0);
  });

  it('reports chance-level accuracy for a collapsed (constant) encoder', async () => {
    const monitor = knnMonitor({ train: bands(120, 0), test: bands(60, 7), k: 10, weighting: 'majority' });
    const constant = { features: (x: tf.Tensor4D | tf.Tensor2D) => tf.ones([x.shape[0], 8]) as tf.Tensor2D };
    let metrics: Record<string, number> = {};
    await monitor.onEpochEnd({ epoch: 0, encoder: constant, log: (m) => (metrics = m) });
    expect(metrics.knn_top1).toBeLessThan(0.4);
    expect(metrics.per_dim_std).toBeLessThan(1e-6);
  });

  it('validates its options up front', () => {
    expect(() => knnMonitor({ train: bands(6, 0), test: bands(6, 0), every: 0 })).toThrow(/every/);
  });
});
