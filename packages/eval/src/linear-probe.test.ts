import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { linearProbe } from './linear-probe';
import { featureMoments, fitLogisticRegression } from './logistic-regression';
import { gaussianBlobs } from './test-data';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('linearProbe', () => {
  it('separates Gaussian blobs and reports top-5 only for more than 5 classes', async () => {
    const train = gaussianBlobs({ count: 600, dim: 16, numClasses: 8, separation: 1.5, seed: 1 });
    const test = gaussianBlobs({ count: 400, dim: 16, numClasses: 8, separation: 1.5, seed: 1 });
    const before = tf.memory().numTensors;
    const result = await linearProbe(train, test, { weightDecay: 1e-3 });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.top1).toBeGreaterThan(0.9);
    expect(result.top5).toBeGreaterThanOrEqual(result.top1);
    expect(result.converged).toBe(true);
    const fewClasses = gaussianBlobs({ count: 90, dim: 4, numClasses: 3, separation: 3, seed: 2 });
    expect((await linearProbe(fewClasses, fewClasses)).top5).toBeUndefined();
  });

  it('reaches a stationary point: the gradient of the regularized loss vanishes (finite differences)', async () => {
    const train = gaussianBlobs({ count: 120, dim: 3, numClasses: 3, separation: 0.7, seed: 3 });
    const weightDecay = 0.01;
    const fit = await fitLogisticRegression(train, { weightDecay });
    expect(fit.converged).toBe(true);
    // Recompute the objective in plain float64 loops around the solution.
    const { mean, std } = featureMoments(train.features, 3);
    const loss = (weights: Float64Array, bias: Float64Array) => {
      let total = 0;
      for (let i = 0; i < 120; i++) {
        const logits = [0, 1, 2].map((c) => {
          let z = bias[c];
          for (let d = 0; d < 3; d++) z += ((train.features[i * 3 + d] - mean[d]) / std[d]) * weights[d * 3 + c];
          return z;
        });
        const max = Math.max(...logits);
        const logSum = max + Math.log(logits.reduce((s, z) => s + Math.exp(z - max), 0));
        total += logSum - logits[train.labels[i]];
      }
      let penalty = 0;
      for (const w of weights) penalty += w * w;
      return total / 120 + 0.5 * weightDecay * penalty;
    };
    const weights = Float64Array.from(fit.classifier.weights);
    const bias = Float64Array.from(fit.classifier.bias);
    expect(loss(weights, bias)).toBeCloseTo(fit.trainLoss, 4);
    const h = 1e-4;
    for (let i = 0; i < weights.length; i++) {
      const saved = weights[i];
      weights[i] = saved + h;
      const up = loss(weights, bias);
      weights[i] = saved - h;
      const down = loss(weights, bias);
      weights[i] = saved;
      expect(Math.abs((up - down) / (2 * h))).toBeLessThan(1e-3);
    }
  });

  it('the preconditioned fit reaches the same minimizer as the direct fit, in fewer iterations on correlated features', async () => {
    // Strongly correlated features: every dimension is a shared component plus a little of its own blob feature.
    const blobs = gaussianBlobs({ count: 400, dim: 12, numClasses: 4, separation: 0.8, seed: 6 });
    const shared = gaussianBlobs({ count: 400, dim: 1, numClasses: 1, separation: 0, seed: 7 }).features;
    const features = blobs.features.map((value, i) => shared[Math.floor(i / 12)] + 0.1 * value);
    const train = { ...blobs, features };
    const direct = await fitLogisticRegression(train, { weightDecay: 1e-3, precondition: false, maxIterations: 2000 });
    const preconditioned = await fitLogisticRegression(train, { weightDecay: 1e-3 });
    expect(direct.converged && preconditioned.converged).toBe(true);
    expect(preconditioned.iterations).toBeLessThan(direct.iterations / 2);
    expect(preconditioned.trainLoss).toBeCloseTo(direct.trainLoss, 5);
    let largest = 0;
    for (const w of direct.classifier.weights) largest = Math.max(largest, Math.abs(w));
    direct.classifier.weights.forEach((w, i) => expect(Math.abs(w - preconditioned.classifier.weights[i])).toBeLessThan(0.01 * largest));
  });

  it('fits features that outnumber the samples directly (whitening their singular covariance gave NaN)', async () => {
    const blobs = gaussianBlobs({ count: 30, dim: 6, numClasses: 3, separation: 1, seed: 8 });
    // 60 features of 30 samples: each blob feature repeated ten times, plus a little noise.
    const noise = gaussianBlobs({ count: 30, dim: 60, numClasses: 1, separation: 0, seed: 9 }).features;
    const features = noise.map((value, i) => blobs.features[Math.floor(i / 60) * 6 + (i % 6)] + 1e-3 * value);
    const train = { ...blobs, dim: 60, features: Float32Array.from(features) };
    const fit = await fitLogisticRegression(train, { weightDecay: 1e-4 });
    const direct = await fitLogisticRegression(train, { weightDecay: 1e-4, precondition: false });
    expect(Number.isFinite(fit.trainLoss)).toBe(true);
    expect(fit.iterations).toBe(direct.iterations);
    expect(Array.from(fit.classifier.weights)).toEqual(Array.from(direct.classifier.weights));
  });

  it('chooses the weight decay on a validation split when given a list', async () => {
    const train = gaussianBlobs({ count: 300, dim: 8, numClasses: 4, separation: 0.8, seed: 4 });
    const test = gaussianBlobs({ count: 200, dim: 8, numClasses: 4, separation: 0.8, seed: 4 });
    const result = await linearProbe(train, test, { weightDecay: [1e-4, 1e-2, 10] });
    expect(result.validation).toHaveLength(3);
    expect([1e-4, 1e-2, 10]).toContain(result.weightDecay);
    // lambda = 10 shrinks the weights so hard that validation accuracy cannot be the best.
    expect(result.weightDecay).not.toBe(10);
  });

  it('rejects mismatched features with a clear error', async () => {
    const a = gaussianBlobs({ count: 10, dim: 4, numClasses: 2, separation: 1, seed: 5 });
    const b = gaussianBlobs({ count: 10, dim: 5, numClasses: 2, separation: 1, seed: 5 });
    await expect(linearProbe(a, b)).rejects.toThrow(/same encoder/);
  });
});
