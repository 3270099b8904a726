import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { FeatureCache, extractFeatures, flattenEncoder } from './extract-features';
import { knnClassify } from './knn';
import { linearProbe } from './linear-probe';
import { halvesDataset } from './test-data';
import { smallCnnEncoder, weightBytes } from './test-encoder';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('extractFeatures', () => {
  it('scales pixels to [0, 1], keeps labels and batches without changing the result', async () => {
    const dataset = halvesDataset(37, 1);
    const small = await extractFeatures(flattenEncoder(), dataset, { batchSize: 5 });
    const large = await extractFeatures(flattenEncoder(), dataset, { batchSize: 64 });
    expect(small.dim).toBe(64);
    expect(Array.from(small.features)).toEqual(Array.from(large.features));
    expect(small.features[0]).toBeCloseTo(dataset.images[0] / 255, 6);
    expect(Math.max(...small.features)).toBeLessThanOrEqual(1);
    expect(Array.from(small.labels)).toEqual(Array.from(dataset.labels as Int32Array));
  });

  it('runs the encoder in inference mode and gives -1 labels for unlabeled data', async () => {
    const seen: (boolean | undefined)[] = [];
    const encoder = {
      features: (x: tf.Tensor4D | tf.Tensor2D, o?: { training?: boolean }) => (
        seen.push(o?.training),
        tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D
      ),
    };
    const { labels, ...unlabeled } = halvesDataset(4, 2);
    const result = await extractFeatures(encoder, unlabeled, { batchSize: 2 });
    expect(seen).toEqual([false, false]);
    expect(Array.from(result.labels)).toEqual([-1, -1, -1, -1]);
    expect(labels).toBeDefined();
  });

  it('reuses cached features for the same (encoder, dataset) pair only', async () => {
    const cache = new FeatureCache();
    const dataset = halvesDataset(10, 3);
    const encoder = flattenEncoder();
    const first = await extractFeatures(encoder, dataset, { cache });
    expect(await extractFeatures(encoder, dataset, { cache })).toBe(first);
    expect(await extractFeatures(flattenEncoder(), dataset, { cache })).not.toBe(first);
  });

  it('extract + linear probe + kNN leave a tfjs-layers encoder bit-identical and leak no tensors', async () => {
    const encoder = smallCnnEncoder([8, 8, 1]);
    const train = halvesDataset(64, 4);
    const test = halvesDataset(32, 5);
    const before = weightBytes(encoder.model);
    const tensorsBefore = tf.memory().numTensors;
    const trainFeatures = await extractFeatures(encoder, train, { batchSize: 16 });
    const testFeatures = await extractFeatures(encoder, test, { batchSize: 16 });
    const probe = await linearProbe(trainFeatures, testFeatures);
    await knnClassify(trainFeatures, testFeatures, { k: 5 });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const after = weightBytes(encoder.model);
    expect(after.length).toBe(before.length);
    // conv kernel + bias, batch-norm gamma, beta, moving mean, moving variance, dense kernel + bias.
    expect(before.length).toBe(8);
    after.forEach((bytes, i) => expect(Buffer.from(bytes).equals(Buffer.from(before[i]))).toBe(true));
    expect(probe.top1).toBeGreaterThan(0.9);
  });
});
