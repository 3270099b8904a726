import * as tf from '@tensorflow/tfjs-core';
import { createEncoder, createRegistry, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import type { CnnSpec, ImageDataset, TrainCallback } from '@ssl/core';
import { extractFeatures, knnClassify } from '@ssl/eval';
import { beforeAll, describe, expect, it } from 'vitest';
import contrastive, { simclr } from '../index';

// Single-threaded wasm: bit-exact reruns for the determinism test.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
}, 60_000);

const registry = () => createRegistry().use(contrastive());
const tinyEncoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 11 };

let sample: ImageDataset;
async function tinyData(size = 64): Promise<ImageDataset> {
  sample ??= await loadFashionMnist({ split: 'train', source: 'sample' });
  return subset(sample, Array.from({ length: size }, (_, i) => i), `sample-${size}`);
}

function expectInvalid(run: () => unknown, field: string): void {
  try {
    run();
  } catch (error) {
    expect((error as { code?: string }).code).toBe('invalid-config');
    expect((error as Error).message).toContain(field);
    return;
  }
  throw new Error(`expected invalid-config for ${field}, nothing was thrown`);
}

describe('contrastive:simclr', () => {
  it('registers as contrastive:simclr with the paper and typed defaults', () => {
    const handle = registry().create('contrastive:simclr');
    expect(handle.id).toBe('contrastive:simclr');
    expect(handle.config.temperature).toBe(simclr.defaults.temperature);
    expect(simclr.paper?.url).toContain('2002.05709');
    // Registering the plugin twice is a no-op (same definition).
    expect(() => createRegistry().use(contrastive()).use(contrastive())).not.toThrow();
  });

  it('rejects bad configs, naming the field', () => {
    const r = registry();
    expectInvalid(() => r.create('contrastive:simclr', { temperature: 0 }), 'temperature');
    expectInvalid(() => r.create('contrastive:simclr', { temperature: Number.NaN }), 'temperature');
    expectInvalid(() => r.create('contrastive:simclr', { projectionDim: 0 }), 'projectionDim');
    expectInvalid(() => r.create('contrastive:simclr', { projectionHiddenDim: 1.5 }), 'projectionHiddenDim');
    expectInvalid(() => r.create('contrastive:simclr', { projectionLayers: 4 as 2 }), 'projectionLayers');
    expectInvalid(() => r.create('contrastive:simclr', { views: { cropScale: [0.8, 0.2] } }), 'views.cropScale');
    expectInvalid(() => r.create('contrastive:simclr', { views: { blurP: 2 } }), 'views.blurP');
    // A typo from an untyped (JavaScript or JSON) config.
    expectInvalid(() => r.create('contrastive:simclr', { views: { blurSigmaa: [0.1, 1] } as never }), 'views.blurSigmaa');
  });

  it('runs finite, leak-free steps (tensor count flat over 10 steps)', async () => {
    const data = await tinyData(64);
    const counts: number[] = [];
    const recorder: TrainCallback = { name: 'tensor-count', onStepEnd: () => void counts.push(tf.memory().numTensors) };
    const result = await train({
      method: registry().create('contrastive:simclr', { projectionHiddenDim: 32, projectionDim: 16 }),
      data,
      encoder: tinyEncoder,
      batchSize: 16,
      maxSteps: 10,
      epochs: 10,
      seed: 3,
      callbacks: [recorder],
    });
    try {
      expect(result.history).toHaveLength(10);
      for (const record of result.history) {
        expect(Number.isFinite(record.loss)).toBe(true);
        // NT-Xent over 2N = 32 rows is at most about log(2N − 1) + 2/τ and never below 0.
        expect(record.loss).toBeGreaterThan(0);
        expect(Number.isFinite(record.metrics.positiveCosine)).toBe(true);
      }
      // After the first step (optimizer slots are created lazily) the count does not move.
      expect(new Set(counts.slice(1)).size).toBe(1);
    } finally {
      result.dispose();
    }
  }, 120_000);

  it('gives the same loss curve for the same seed, another for another seed', async () => {
    const data = await tinyData(64);
    const run = async (seed: number) => {
      const result = await train({
        method: registry().create('contrastive:simclr', { projectionHiddenDim: 32, projectionDim: 16 }),
        data,
        encoder: tinyEncoder,
        batchSize: 16,
        maxSteps: 4,
        seed,
      });
      const losses = result.history.map((r) => r.loss);
      result.dispose();
      return losses;
    };
    const first = await run(5);
    expect(await run(5)).toEqual(first);
    expect(await run(6)).not.toEqual(first);
  }, 120_000);

  // CI-sized learning test: a few epochs over the committed 3000-image sample, evaluated by weighted kNN
  // (k = 200, sample train → sample test) against the same encoder at random init (same seed).
  it('learns: kNN accuracy beats the same encoder at random init', async () => {
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const testSet = await loadFashionMnist({ split: 'test', source: 'sample' });
    const encoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], seed: 1234 };
    const knn = async (features: { features: (x: tf.Tensor4D) => tf.Tensor2D }) =>
      (await knnClassify(await extractFeatures(features as never, trainSet), await extractFeatures(features as never, testSet), { k: 200 })).top1;
    const randomInit = createEncoder(encoder);
    const before = await knn(randomInit);
    randomInit.model.dispose();
    const result = await train({ method: registry().create('contrastive:simclr'), data: trainSet, encoder, epochs: LEARNING_EPOCHS, batchSize: 128, seed: 0 });
    try {
      const after = await knn(result.encoder);
      console.info(`simclr learning test: kNN random init ${before.toFixed(3)} → trained ${after.toFixed(3)}`);
      expect(after).toBeGreaterThan(before + LEARNING_MARGIN);
    } finally {
      result.dispose();
    }
  }, 600_000);
});

/** Chosen from measured runs (package README): the measured gain minus a safety margin. */
const LEARNING_EPOCHS = 3;
const LEARNING_MARGIN = 0.01;
