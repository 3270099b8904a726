import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, defineMethod, definePlugin, initBackend } from '@ssl/core';
import type { CnnSpec, Encoder, ImageDataset } from '@ssl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareRepresentations } from './compare-representations';
import { flattenEncoder } from './extract-features';
import { compareWithControls, formatControlledEvaluation, formatGain, pretrainAndCompare, randomInitControl } from './pretrain-and-compare';
import { halvesDataset } from './test-data';
import type { FeatureEncoder } from './types';

// Core's backend setup: the wasm training kernels (conv gradients) the trainer needs.
beforeAll(() => initBackend({ backend: 'wasm', threads: 1, log: () => {} }));

// Faint halves under heavy noise, so that no score is trivially 1.
const levels = { bright: 50, dark: 0, noise: 200 };
const train = halvesDataset(240, 1, levels);
const test = halvesDataset(80, 2, levels);

/** Only the top-left 2×2 pixels: a weaker representation than all 64. */
const cornerEncoder: FeatureEncoder = {
  features: (inputs) =>
    tf.tidy(() => tf.reshape(tf.slice(inputs as tf.Tensor4D, [0, 0, 0, 0], [-1, 2, 2, 1]), [inputs.shape[0], 4]) as tf.Tensor2D),
};

const weightsOf = (encoder: Encoder) => encoder.model.getWeights().map((w) => Array.from(w.dataSync()));

/** Pulls features towards zero: enough to move every encoder weight in two steps. */
let initialWeights: number[][] = [];
const shrink = defineMethod<Record<string, never>, 'unlabeled'>({
  name: 'shrink',
  description: 'test method: mean squared feature',
  data: 'unlabeled',
  defaults: {},
  views: () => ({ unlabeled: 'none' }),
  build({ createEncoder }) {
    const encoder = createEncoder();
    initialWeights = weightsOf(encoder);
    return {
      encoder,
      trainable: { encoder: encoder.model },
      step: (batch) => ({ loss: tf.mean(tf.square(encoder.features(batch.views[0], { training: true }))) as tf.Scalar }),
    };
  },
});
const registry = () =>
  createRegistry().use(definePlugin({ name: 'eval-test', version: '0.0.1', family: 'test', core: '>=0.0.0', methods: { shrink } }));

describe('compareWithControls', () => {
  it('scores the encoder, the control and raw pixels with k = 200 (capped), all labels, and 5 label subsets from the seed', async () => {
    const evaluation = await compareWithControls({ encoder: cornerEncoder, randomInit: flattenEncoder(), train, test, seed: 7 });
    expect(evaluation.protocol.knn.k).toBe(200);
    expect(evaluation.protocol.fewLabels.seeds).toEqual([7, 8, 9, 10, 11]);
    // The naive reference: the same three candidates through compareRepresentations with the settings spelled out.
    const reference = await compareRepresentations({
      candidates: [
        { name: 'corner', encoder: cornerEncoder },
        { name: 'pixels', encoder: flattenEncoder() },
      ],
      train,
      test,
      knn: { k: 200, weighting: 'exp', temperature: 0.07 },
      linear: { weightDecay: 1e-4 },
      fewLabels: { perClass: 10, seeds: [7, 8, 9, 10, 11], linear: { weightDecay: 1e-2 } },
    });
    for (const [scores, row] of [
      [evaluation.trained, reference[0]],
      [evaluation.randomInit, reference[1]],
      [evaluation.rawPixels, reference[1]],
    ] as const) {
      expect(scores).toEqual({ featureDim: row.featureDim, knn: row.knn, linear: row.linear, fewLabels: row.fewLabels?.linear });
    }
    // The corner sees less than all pixels: a gain below zero, printed as such.
    const table = formatControlledEvaluation(evaluation);
    expect(table.split('\n')).toHaveLength(5);
    expect(table).toContain(formatGain(evaluation.trained.knn - evaluation.randomInit.knn));
    expect(evaluation.trainedFeatures.test.dim).toBe(4);
  });

  it('caps k at the train size', async () => {
    const small = halvesDataset(60, 3, levels);
    const evaluation = await compareWithControls({ encoder: cornerEncoder, randomInit: cornerEncoder, train: small, test });
    expect(evaluation.protocol.knn.k).toBe(60);
    expect(evaluation.protocol.fewLabels.seeds).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('pretrainAndCompare', () => {
  const spec: CnnSpec = { kind: 'cnn', inputShape: [8, 8, 1], channels: [4, 8] };

  it('trains, then scores the trained encoder against the network training started from', async () => {
    const before = tf.memory().numTensors;
    const { run, evaluation, trainSeconds } = await pretrainAndCompare({
      method: registry().create('test:shrink'),
      data: train as ImageDataset,
      encoder: spec,
      epochs: 1,
      maxSteps: 2,
      batchSize: 32,
      seed: 3,
      evaluation: { train, test },
    });
    expect(run.steps).toBe(2);
    expect(trainSeconds).toBeGreaterThan(0);
    // The control is rebuilt from the spec and seed the trainer drew: bit for bit the initial weights.
    const control = randomInitControl(run.encoder);
    expect(weightsOf(control)).toEqual(initialWeights);
    expect(weightsOf(run.encoder)).not.toEqual(initialWeights);
    const controlScores = await compareWithControls({ encoder: run.encoder, randomInit: control, train, test, seed: 3 });
    control.model.dispose();
    expect(evaluation?.randomInit).toEqual(controlScores.randomInit);
    expect(evaluation?.trained).toEqual(controlScores.trained);
    expect(evaluation?.protocol.fewLabels.seeds).toEqual([3, 4, 5, 6, 7]);
    run.dispose();
    // The control is freed by the runner; the run by its owner.
    expect(tf.memory().numTensors).toBe(before);
  });

  it('only trains when given no evaluation data', async () => {
    const result = await pretrainAndCompare({
      method: registry().create('test:shrink'),
      data: train as ImageDataset,
      encoder: spec,
      maxSteps: 1,
      batchSize: 32,
    });
    expect(result.evaluation).toBeUndefined();
    result.run.dispose();
  });
});
