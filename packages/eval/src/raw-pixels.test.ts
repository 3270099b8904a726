// Acceptance: raw Fashion-MNIST pixels through the same evaluation code as a learned encoder.
// Published baselines (Xiao et al. 2017, the Fashion-MNIST benchmark table): kNN on raw pixels ~85-86%,
// multinomial logistic regression ~84%.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { extractFeatures, flattenEncoder } from './extract-features';
import { knnScores, nearestNeighbors, topKAccuracy } from './knn';
import { linearProbe } from './linear-probe';
import { FASHION_MNIST_DIR, fashionMnistAvailable, readFashionMnist } from './test-data';

const available = fashionMnistAvailable();
if (!available)
  console.log(
    `Skipping the raw-pixel Fashion-MNIST acceptance test: no IDX files in ${FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist).`,
  );

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe.skipIf(!available)('raw Fashion-MNIST pixels (60k train / 10k test)', () => {
  it('kNN and the linear probe land in the published ranges', { timeout: 600_000 }, async () => {
    const started = performance.now();
    const encoder = flattenEncoder();
    const train = await extractFeatures(encoder, readFashionMnist('train'), { batchSize: 1000 });
    const test = await extractFeatures(encoder, readFashionMnist('test'), { batchSize: 1000 });
    expect(train.labels.length).toBe(60_000);
    expect(test.labels.length).toBe(10_000);
    expect(train.dim).toBe(784);
    const extracted = performance.now();

    // One neighbour search at k = 200 serves both the k = 5 and the k = 200 votes.
    const neighbors = await nearestNeighbors(train, test, { k: 200 });
    const knn5Majority = topKAccuracy(knnScores(neighbors, train.labels, { k: 5, weighting: 'majority', numClasses: 10 }), test.labels, 10);
    const knn5Weighted = topKAccuracy(knnScores(neighbors, train.labels, { k: 5, weighting: 'exp', numClasses: 10 }), test.labels, 10);
    const knn200Weighted = topKAccuracy(knnScores(neighbors, train.labels, { k: 200, weighting: 'exp', numClasses: 10 }), test.labels, 10);
    const searched = performance.now();

    const probe = await linearProbe(train, test, { weightDecay: 1e-4, maxIterations: 150 });
    const probed = performance.now();

    const seconds = (from: number, to: number) => ((to - from) / 1000).toFixed(1);
    console.log(
      [
        `raw-pixel Fashion-MNIST: kNN k=5 majority top-1 ${knn5Majority.top1.toFixed(4)}, k=5 exp top-1 ${knn5Weighted.top1.toFixed(4)}, ` +
          `k=200 exp (tau 0.07) top-1 ${knn200Weighted.top1.toFixed(4)} top-5 ${knn200Weighted.top5?.toFixed(4)}`,
        `linear probe top-1 ${probe.top1.toFixed(4)} top-5 ${probe.top5?.toFixed(4)} (${probe.iterations} L-BFGS iterations, train loss ${probe.trainLoss.toFixed(4)}, converged ${probe.converged})`,
        `time: extract ${seconds(started, extracted)} s, kNN ${seconds(extracted, searched)} s, probe ${seconds(searched, probed)} s, total ${seconds(started, probed)} s`,
      ].join('\n'),
    );
    expect(knn5Majority.top1).toBeGreaterThanOrEqual(0.84);
    expect(knn5Majority.top1).toBeLessThanOrEqual(0.87);
    expect(knn5Weighted.top1).toBeGreaterThanOrEqual(0.84);
    expect(knn5Weighted.top1).toBeLessThanOrEqual(0.87);
    expect(probe.top1).toBeGreaterThanOrEqual(0.82);
    expect(probe.top1).toBeLessThanOrEqual(0.87);
  });
});
