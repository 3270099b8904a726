import type * as tf from '@tensorflow/tfjs-core';
import { createEncoder, createRegistry, initBackend, loadFashionMnist, train } from '@ssl/core';
import type { CnnSpec } from '@ssl/core';
import { extractFeatures, knnClassify } from '@ssl/eval';
import { describeMethodContract } from '@ssl/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import contrastive, { simclr } from '../index';

// Single-threaded wasm: bit-exact reruns for the method contract's determinism and resume tests.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
}, 60_000);

const registry = () => createRegistry().use(contrastive());

describeMethodContract({
  plugin: contrastive,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'contrastive:simclr',
  config: { projectionHiddenDim: 32, projectionDim: 16 },
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 11 },
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { temperature: 0 }, field: 'temperature' },
    { config: { temperature: Number.NaN }, field: 'temperature' },
    { config: { projectionDim: 0 }, field: 'projectionDim' },
    { config: { projectionHiddenDim: 1.5 }, field: 'projectionHiddenDim' },
    { config: { projectionLayers: 4 }, field: 'projectionLayers' },
    { config: { views: { cropScale: [0.8, 0.2] } }, field: 'views.cropScale' },
    { config: { views: { blurP: 2 } }, field: 'views.blurP' },
    // A typo from an untyped (JavaScript or JSON) config.
    { config: { views: { blurSigmaa: [0.1, 1] } }, field: 'views.blurSigmaa' },
  ],
  checkRun(result) {
    for (const record of result.history) {
      // NT-Xent over 2N = 32 rows is at most about log(2N − 1) + 2/τ and never below 0.
      expect(record.loss).toBeGreaterThan(0);
      expect(Number.isFinite(record.metrics.positiveCosine)).toBe(true);
    }
  },
});

describe('contrastive:simclr', () => {
  it('has the paper and typed defaults', () => {
    const handle = registry().create('contrastive:simclr');
    expect(handle.config.temperature).toBe(simclr.defaults.temperature);
    expect(simclr.paper?.url).toContain('2002.05709');
  });

  // CI-sized learning test: a few epochs over the committed 3000-image sample, evaluated by weighted kNN
  // (k = 200, sample train → sample test) against the same encoder at random init (same seed).
  it('learns: kNN accuracy beats the same encoder at random init', async () => {
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const testSet = await loadFashionMnist({ split: 'test', source: 'sample' });
    const encoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], seed: 1234 };
    const knn = async (features: { features: (x: tf.Tensor4D) => tf.Tensor2D }) =>
      (await knnClassify(await extractFeatures(features as never, trainSet), await extractFeatures(features as never, testSet), { k: 200 }))
        .top1;
    const randomInit = createEncoder(encoder);
    const before = await knn(randomInit);
    randomInit.model.dispose();
    const result = await train({
      method: registry().create('contrastive:simclr'),
      data: trainSet,
      encoder,
      epochs: LEARNING_EPOCHS,
      batchSize: 128,
      seed: 0,
    });
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
