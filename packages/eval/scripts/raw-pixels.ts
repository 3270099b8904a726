/**
 * Raw Fashion-MNIST pixels on the full data (60 000 train / 10 000 test) through the same evaluation code as a
 * learned encoder: the README's "Measured" table. Published baselines (Xiao et al. 2017, the Fashion-MNIST
 * benchmark table): kNN on raw pixels ~85-86%, multinomial logistic regression ~84%. CI checks the same figures on
 * a smaller budget (src/raw-pixels.test.ts); this is the full measurement, about 3 minutes on 2 loaded cores.
 *
 *   node --conditions=@ssl/source --import tsx packages/eval/scripts/raw-pixels.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { extractFeatures, flattenEncoder } from '../src/extract-features';
import { knnScores, nearestNeighbors, topKAccuracy } from '../src/knn';
import { linearProbe } from '../src/linear-probe';
import { FASHION_MNIST_DIR, fashionMnistAvailable, readFashionMnist } from '../src/test-data';

if (!fashionMnistAvailable()) {
  console.error(`No Fashion-MNIST IDX files in ${FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist).`);
  process.exit(1);
}
await tf.setBackend('wasm');
await tf.ready();

const started = performance.now();
const encoder = flattenEncoder();
const train = await extractFeatures(encoder, readFashionMnist('train'), { batchSize: 1000 });
const test = await extractFeatures(encoder, readFashionMnist('test'), { batchSize: 1000 });
const extracted = performance.now();

// One neighbour search at k = 200 serves both the k = 5 and the k = 200 votes.
const neighbors = await nearestNeighbors(train, test, { k: 200 });
const vote = (k: number, weighting: 'majority' | 'exp') =>
  topKAccuracy(knnScores(neighbors, train.labels, { k, weighting, numClasses: 10 }), test.labels, 10);
const knn5Majority = vote(5, 'majority');
const knn5Weighted = vote(5, 'exp');
const knn200Weighted = vote(200, 'exp');
const searched = performance.now();

const probe = await linearProbe(train, test, { weightDecay: 1e-4, maxIterations: 150 });
const probed = performance.now();

const seconds = (from: number, to: number) => ((to - from) / 1000).toFixed(1);
console.log(
  [
    `raw-pixel Fashion-MNIST (60 000 train / 10 000 test): kNN k=5 majority top-1 ${knn5Majority.top1.toFixed(4)}, ` +
      `k=5 exp top-1 ${knn5Weighted.top1.toFixed(4)}, k=200 exp (tau 0.07) top-1 ${knn200Weighted.top1.toFixed(4)} top-5 ${knn200Weighted.top5?.toFixed(4)}`,
    `linear probe (weight decay 1e-4, 150 L-BFGS iterations at most) top-1 ${probe.top1.toFixed(4)} top-5 ${probe.top5?.toFixed(4)} ` +
      `(${probe.iterations} iterations, train loss ${probe.trainLoss.toFixed(4)}, converged ${probe.converged})`,
    `time: extract ${seconds(started, extracted)} s, kNN ${seconds(extracted, searched)} s, probe ${seconds(searched, probed)} s, total ${seconds(started, probed)} s`,
  ].join('\n'),
);
