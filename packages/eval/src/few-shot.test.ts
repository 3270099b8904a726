import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { fewShotEval, prototypePredict } from './few-shot';
import { confidenceInterval95, summarize } from './statistics';
import { gaussianBlobs } from './test-data';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('confidence interval', () => {
  it('is 1.96 * sample std / sqrt(n), checked by hand', () => {
    // values 0.5, 0.7, 0.9: mean 0.7, sample variance (0.04 + 0 + 0.04) / 2 = 0.04, std 0.2.
    const summary = summarize([0.5, 0.7, 0.9]);
    expect(summary.mean).toBeCloseTo(0.7, 12);
    expect(summary.std).toBeCloseTo(0.2, 12);
    expect(summary.ci95).toBeCloseTo((1.96 * 0.2) / Math.sqrt(3), 12);
    expect(confidenceInterval95(0.1, 400)).toBeCloseTo(0.0098, 12);
    expect(summarize([0.3]).ci95).toBe(0);
  });
});

describe('fewShotEval', () => {
  it('prototypes classify by cosine to the class means', () => {
    const support = { features: Float32Array.from([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]), dim: 2, labels: Int32Array.from([0, 0, 1, 1]) };
    expect(Array.from(prototypePredict(support, Float32Array.from([5, 1, 1, 5, -1, 3]), 2))).toEqual([0, 1, 1]);
  });

  it('beats chance clearly on separable classes and sits at chance on noise, with a CI that shrinks with episodes', async () => {
    const blobs = gaussianBlobs({ count: 400, dim: 16, numClasses: 10, separation: 1, seed: 5 });
    const noise = gaussianBlobs({ count: 400, dim: 16, numClasses: 10, separation: 0, seed: 6 });
    const separable = await fewShotEval(blobs, { ways: 5, shots: 5, queries: 10, episodes: 40, seed: 1 });
    const chance = await fewShotEval(noise, { ways: 5, shots: 5, queries: 10, episodes: 40, seed: 1 });
    expect(separable.mean).toBeGreaterThan(0.9);
    expect(chance.mean).toBeGreaterThan(0.1);
    expect(chance.mean).toBeLessThan(0.3);
    expect(separable.accuracies).toHaveLength(40);
    expect(separable.ci95).toBeCloseTo((1.96 * separable.std) / Math.sqrt(40), 12);
    const longer = await fewShotEval(noise, { ways: 5, shots: 5, queries: 10, episodes: 160, seed: 2 });
    expect(longer.ci95).toBeLessThan(chance.ci95);
  });

  it('runs the logistic classifier, restricted to given classes', async () => {
    const blobs = gaussianBlobs({ count: 300, dim: 8, numClasses: 6, separation: 1.2, seed: 7 });
    const before = tf.memory().numTensors;
    const result = await fewShotEval(blobs, {
      ways: 3,
      shots: 5,
      queries: 5,
      episodes: 5,
      classifier: 'logistic',
      classes: [0, 1, 2],
      seed: 3,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.mean).toBeGreaterThan(0.8);
    await expect(fewShotEval(blobs, { ways: 4, classes: [0, 1, 2] })).rejects.toThrow(/only 3 qualify/);
  });
});
