import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createEncoder } from '@ssl/core';
import type { Encoder } from '@ssl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { episodeSampler } from './episodes';
import { crossEntropyOfLogits, episodeLoss, mamlEpisodeLoss, mamlLearner, mamlMetaGradient, trainMaml } from './maml';
import type { EpisodeTensors } from './maml';
import { gaussianBlobs } from './test-data';

let previousBackend: string;
beforeAll(async () => {
  previousBackend = tf.getBackend();
  await tf.setBackend('cpu');
  await tf.ready();
});
afterAll(async () => {
  if (previousBackend) await tf.setBackend(previousBackend);
});

describe('episodeSampler', () => {
  it('draws N classes from the split, K support and Q query rows of each, disjoint, reproducibly', () => {
    const labels = Int32Array.from({ length: 100 }, (_, i) => i % 10);
    const sample = episodeSampler(labels, { ways: 3, shots: 2, queries: 4, classes: [5, 6, 7, 8, 9], seed: 1 });
    const episode = sample();
    expect(episode.classes).toHaveLength(3);
    expect(episode.classes.every((c) => c >= 5)).toBe(true);
    expect(episode.support).toHaveLength(6);
    expect(episode.query).toHaveLength(12);
    const rows = [...episode.support, ...episode.query];
    expect(new Set(rows).size).toBe(rows.length);
    episode.support.forEach((row, i) => expect(labels[row]).toBe(episode.classes[episode.supportLabels[i]]));
    episode.query.forEach((row, i) => expect(labels[row]).toBe(episode.classes[episode.queryLabels[i]]));
    expect(episodeSampler(labels, { ways: 3, shots: 2, queries: 4, classes: [5, 6, 7, 8, 9], seed: 1 })()).toEqual(episode);
    expect(() => episodeSampler(labels, { ways: 3, shots: 5, queries: 6, classes: [0, 1, 2] })).toThrow(/only 0 of/);
  });
});

describe('crossEntropyOfLogits', () => {
  it('equals −mean log softmax of a plain loop, and its Hessian-vector product equals finite differences of its gradient', () => {
    const values = [
      [2.0, -1.0, 0.5],
      [-0.3, 0.8, 0.1],
      [30.0, 29.5, -4.0],
      [0.0, 0.0, 0.0],
    ];
    const labels = [0, 2, 1, 1];
    let reference = 0;
    values.forEach((row, r) => {
      const normalizer = row.reduce((sum, z) => sum + Math.exp(z), 0);
      reference -= Math.log(Math.exp(row[labels[r]]) / normalizer) / values.length;
    });
    const labelTensor = tf.tensor1d(labels, 'int32');
    const loss = (z: tf.Tensor) => crossEntropyOfLogits(z as tf.Tensor2D, labelTensor, 3);
    expect(loss(tf.tensor2d(values)).dataSync()[0]).toBeCloseTo(reference, 5);
    expect(episodeLoss(tf.tensor2d(values), labelTensor, 3).dataSync()[0]).toBeCloseTo(reference, 5);

    // d/dz ⟨∇L(z), v⟩ = H v, by autodiff of the gradient and by central differences of the gradient.
    const at = tf.tensor2d(values.map((row) => row.map((z) => z / 10)));
    const direction = tf.tensor2d([0.3, -0.2, 0.5, 1, 0.1, -0.4, -0.6, 0.2, 0.9, 0.4, -0.7, 0.25], [4, 3]);
    const gradient = tf.grad(loss);
    const hessianVector = tf
      .grad((z: tf.Tensor) => tf.sum(tf.mul(gradient(z), direction)))(at)
      .dataSync();
    const h = 1e-2;
    const plus = gradient(tf.add(at, tf.mul(direction, h))).dataSync();
    const minus = gradient(tf.sub(at, tf.mul(direction, h))).dataSync();
    const differences = Array.from(plus, (p, i) => (p - minus[i]) / (2 * h));
    const scale = Math.max(...differences.map(Math.abs));
    expect(scale).toBeGreaterThan(0.01);
    differences.forEach((d, i) => expect(Math.abs(hessianVector[i] - d)).toBeLessThan(0.01 * scale));
  });
});

describe('MAML', () => {
  it.each(['cross-entropy', 'squared'] as const)(
    '%s: the second-order meta-gradient equals central differences of the meta-loss; first order does not',
    (loss) => {
      const encoder = createEncoder({ kind: 'mlp', inputDim: 3, hidden: [4], batchNorm: false, seed: 5 });
      const learner = mamlLearner(encoder, 2, 3);
      const episode: EpisodeTensors = {
        supportInputs: tf.randomNormal([4, 3], 0, 1, 'float32', 1),
        supportLabels: tf.tensor1d([0, 1, 0, 1], 'int32'),
        queryInputs: tf.randomNormal([6, 3], 0, 1, 'float32', 2),
        queryLabels: tf.tensor1d([0, 1, 1, 0, 0, 1], 'int32'),
      };
      const step = { innerSteps: 2, innerLearningRate: 0.5, loss };
      const flat = (map: tf.NamedTensorMap) => Object.keys(learner.parameters).flatMap((name) => Array.from(map[name].dataSync()));
      const second = mamlMetaGradient(learner, [episode], step);
      const first = mamlMetaGradient(learner, [episode], { ...step, firstOrder: true });
      const secondOrder = flat(second.gradients);
      const firstOrder = flat(first.gradients);
      tf.dispose([second.loss, first.loss, ...Object.values(second.gradients), ...Object.values(first.gradients)]);

      const names = Object.keys(learner.parameters);
      const reference: number[] = [];
      const h = 1e-3;
      for (const name of names) {
        const base = learner.parameters[name].dataSync();
        for (let k = 0; k < base.length; k++) {
          const at = (delta: number) =>
            tf.tidy(() => {
              const shifted = base.slice();
              shifted[k] += delta;
              const parameters = { ...learner.parameters, [name]: tf.tensor(shifted, learner.parameters[name].shape) };
              return mamlEpisodeLoss(learner, parameters, episode, step).dataSync()[0];
            });
          reference.push((at(h) - at(-h)) / (2 * h));
        }
      }
      const maxDifference = (a: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i])), 0);
      const tolerance = 0.01 * Math.max(...reference.map(Math.abs));
      expect(maxDifference(secondOrder)).toBeLessThan(tolerance);
      // Dropping the Hessian term is visible: the first-order gradient misses by far more than the tolerance.
      expect(maxDifference(firstOrder)).toBeGreaterThan(5 * tolerance);
      tf.dispose(Object.values(episode) as tf.Tensor[]);
      learner.dispose();
      encoder.model.dispose();
    },
  );

  it('meta-training lowers the query loss on toy episodes without leaking tensors', async () => {
    const blobs = gaussianBlobs({ count: 200, dim: 6, numClasses: 8, separation: 1.5, seed: 2 });
    const encoder = createEncoder({ kind: 'mlp', inputDim: 6, hidden: [8], batchNorm: false, seed: 1 });
    const learner = mamlLearner(encoder, 2, 1);
    const before = tf.memory().numTensors;
    const losses = await trainMaml(learner, blobs, {
      ways: 2,
      shots: 2,
      queries: 5,
      iterations: 30,
      innerSteps: 1,
      innerLearningRate: 0.4,
      metaLearningRate: 0.01,
      seed: 3,
    });
    expect(tf.memory().numTensors).toBe(before);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-10))).toBeLessThan(mean(losses.slice(0, 10)));
    learner.dispose();
    encoder.model.dispose();
  });
});

describe('MAML through a strided conv net with batch norm', () => {
  it('the second-order cross-entropy meta-gradient equals central differences', () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({
          inputShape: [6, 6, 1],
          filters: 2,
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          useBias: false,
          kernelInitializer: tfl.initializers.heNormal({ seed: 3 }),
        }),
        tfl.layers.batchNormalization({}),
        tfl.layers.reLU(),
        tfl.layers.flatten(),
      ],
    });
    const encoder: Encoder = {
      kind: 'test-conv',
      inputShape: [6, 6, 1],
      featureDim: 18,
      model,
      features: (inputs, options) => model.apply(inputs, { training: options?.training ?? false }) as tf.Tensor2D,
    };
    const learner = mamlLearner(encoder, 2, 4);
    const episode: EpisodeTensors = {
      supportInputs: tf.randomNormal([4, 6, 6, 1], 0, 1, 'float32', 5),
      supportLabels: tf.tensor1d([0, 1, 0, 1], 'int32'),
      queryInputs: tf.randomNormal([6, 6, 6, 1], 0, 1, 'float32', 6),
      queryLabels: tf.tensor1d([0, 1, 1, 0, 0, 1], 'int32'),
    };
    const step = { innerSteps: 2, innerLearningRate: 0.5, loss: 'cross-entropy' as const };
    const names = Object.keys(learner.parameters);
    const meta = mamlMetaGradient(learner, [episode], step);
    const gradient = names.flatMap((name) => Array.from(meta.gradients[name].dataSync()));
    tf.dispose([meta.loss, ...Object.values(meta.gradients)]);
    const reference: number[] = [];
    const h = 1e-3;
    for (const name of names) {
      const base = learner.parameters[name].dataSync();
      for (let k = 0; k < base.length; k++) {
        const at = (delta: number) =>
          tf.tidy(() => {
            const shifted = base.slice();
            shifted[k] += delta;
            const parameters = { ...learner.parameters, [name]: tf.tensor(shifted, learner.parameters[name].shape) };
            return mamlEpisodeLoss(learner, parameters, episode, step).dataSync()[0];
          });
        reference.push((at(h) - at(-h)) / (2 * h));
      }
    }
    const maxDifference = gradient.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i])), 0);
    expect(maxDifference).toBeLessThan(0.02 * Math.max(...reference.map(Math.abs)));
    tf.dispose(Object.values(episode) as tf.Tensor[]);
    learner.dispose();
    model.dispose();
  });
});
