import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { createEncoder } from '@ssl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluatePrototypical, prototypicalLogits, trainPrototypicalNetwork } from './prototypical-networks';
import { gaussianBlobs } from './test-data';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('Prototypical Networks', () => {
  it('logits are minus the squared distance to each class mean', () => {
    const logits = prototypicalLogits(
      tf.tensor2d([0, 0, 2, 0, 10, 10], [3, 2]),
      tf.tensor1d([0, 0, 1], 'int32'),
      tf.tensor2d([1, 1], [1, 2]),
      2,
    );
    // Prototypes (1, 0) and (10, 10): distances² 1 and 81 + 81.
    expect(Array.from(logits.dataSync())).toEqual([-1, -162]);
  });

  it('reaches 100% on separable toy episodes of held-out classes after episodic training', async () => {
    const blobs = gaussianBlobs({ count: 400, dim: 8, numClasses: 10, separation: 6, seed: 4 });
    const encoder = createEncoder({ kind: 'mlp', inputDim: 8, hidden: [16], batchNorm: false, seed: 2 });
    const before = tf.memory().numTensors;
    const losses = await trainPrototypicalNetwork(encoder, blobs, {
      ways: 5,
      shots: 5,
      queries: 5,
      episodes: 30,
      learningRate: 1e-2,
      classes: [0, 1, 2, 3, 4],
      seed: 1,
    });
    const result = await evaluatePrototypical(encoder, blobs, {
      ways: 5,
      shots: 5,
      queries: 10,
      episodes: 20,
      classes: [5, 6, 7, 8, 9],
      seed: 2,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(result.mean).toBe(1);
    encoder.model.dispose();
  });
});
