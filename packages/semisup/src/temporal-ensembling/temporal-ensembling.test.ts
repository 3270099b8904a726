import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, initBackend } from '@ssl/core';
import type { SemiSupervisedBatch } from '@ssl/core';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import { describeMethodContract, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import semisup, { ensembleTargets, predictClasses, temporalEnsembling } from '../index';
import type { SemisupRuntime, TemporalEnsemblingCarry, TemporalEnsemblingConfig } from '../index';

const SHAPE: [number, number, number] = [12, 12, 1];

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

// 50 images (the first with every class), 1 label per class: 40 unlabeled, 8 per step (B 2, μ 4), so an epoch is 5 steps and the 8-step
// run (killed after step 6 by the resume test) reaches epoch 2, where the targets are last epoch's ensemble.
describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:temporal-ensembling',
  config: { unlabeledRatio: 4, rampUp: 0.5 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 50 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 2,
  steps: 8,
  moreConfigs: [{ consistencyWeight: 0 }],
  invalidConfigs: [
    { config: { unlabeledRatio: 0 }, field: 'unlabeledRatio' },
    { config: { consistencyWeight: -1 }, field: 'consistencyWeight' },
    { config: { ensembleMomentum: 1 }, field: 'ensembleMomentum' },
    { config: { rampUp: 3 }, field: 'rampUp' },
    { config: { dropout: 1 }, field: 'dropout' },
  ],
  checkRun(result) {
    const visits = result.runtime.state!.visits;
    const ensemble = result.runtime.state!.ensemble;
    expect(ensemble.shape).toEqual([50, 10]);
    if (result.history[0].metrics.targetRate === undefined) {
      expect(Array.from(visits.dataSync()).every((n) => n === 0)).toBe(true); // the supervised-only ablation keeps no ensemble
      return;
    }
    // Every unlabeled sample (ids 10..49) is visited once per epoch; labeled ids never.
    const counts = Array.from(visits.dataSync());
    expect(counts.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(counts.slice(10).reduce((a, b) => a + b, 0)).toBe(8 * 8);
    // Epoch 1 has no targets yet; in epoch 2 every sample has last epoch's prediction as its target.
    expect(result.history.slice(0, 5).map((r) => r.metrics.targetRate)).toEqual([0, 0, 0, 0, 0]);
    expect(result.history.slice(5).map((r) => r.metrics.targetRate)).toEqual([1, 1, 1]);
    // Ensemble rows of seen samples are bias-corrected probability vectors.
    const rows = Array.from(ensemble.dataSync());
    counts.forEach((n, id) => {
      if (n === 0) return;
      const sum = rows.slice(id * 10, id * 10 + 10).reduce((a, b) => a + b, 0);
      expect(sum / (1 - 0.6 ** n)).toBeCloseTo(1, 4);
    });
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = predictClasses(result.runtime, images);
    expect(predictions.shape).toEqual([3]);
    tf.dispose([predictions, images]);
  },
});

describe('temporal ensembling', () => {
  it('ensembleTargets divides Z by 1 − α^n per sample and masks samples never seen', () => {
    const ensemble = tf.tensor2d([
      [0.2, 0.2],
      [0.3, 0.1],
      [0, 0],
    ]);
    const visits = tf.tensor1d([1, 3, 0]);
    const { targets, mask } = ensembleTargets(ensemble, visits, tf.tensor1d([1, 0, 2], 'int32'), 0.6);
    const expected = [
      [0.3 / (1 - 0.6 ** 3), 0.1 / (1 - 0.6 ** 3)],
      [0.2 / 0.4, 0.2 / 0.4],
      [0, 0],
    ];
    (targets.arraySync() as number[][]).forEach((row, i) => row.forEach((v, k) => expect(v).toBeCloseTo(expected[i][k], 6)));
    expect(Array.from(mask.dataSync())).toEqual([1, 1, 0]);
    tf.dispose([ensemble, visits, targets, mask]);
  });

  it('updates Z ← αZ + (1 − α)z in afterStep from the step’s own predictions (carry), rows by sample id', () => {
    const config = { ...temporalEnsembling.defaults, dropout: 0 };
    const runtime = temporalEnsembling.build(
      testBuildContext<TemporalEnsemblingConfig>({
        config,
        inputShape: SHAPE,
        numClasses: 3,
        sampleCount: 12,
        rng: new Random(3),
        createEncoder: () => createEncoder({ kind: 'cnn', inputShape: SHAPE, channels: [4, 8], seed: 2 }),
      }),
    ) as SemisupRuntime<TemporalEnsemblingCarry>;
    const images = (count: number, seed: number) => tf.randomUniform([count, ...SHAPE], 0, 1, 'float32', seed) as tf.Tensor4D;
    const labeled = images(2, 1);
    const unlabeled = images(4, 2);
    const ids = Int32Array.from([9, 4, 11, 6]);
    const batch: SemiSupervisedBatch = {
      kind: 'semi-supervised',
      labeled: { images: labeled, views: [labeled], indices: sampleIds(2), labels: tf.tensor1d([0, 2], 'int32') },
      unlabeled: { images: unlabeled, views: [unlabeled], indices: ids },
    };
    const context = testStepContext({ step: 0, epoch: 0, totalSteps: 10, progress: 0, rng: new Random(1), lr: 0.03 });
    const predictions: number[][][] = [];
    for (let visit = 0; visit < 2; visit++) {
      tf.tidy(() => {
        const output = runtime.step(batch, context);
        expect(output.metrics!.targetRate.dataSync()[0]).toBe(visit === 0 ? 0 : 1);
        expect(Array.from(output.carry!.ids.dataSync())).toEqual(Array.from(ids));
        predictions.push(output.carry!.probabilities.arraySync());
        runtime.afterStep!(batch, context, output.carry);
      });
    }
    const ensemble = runtime.state!.ensemble.arraySync() as number[][];
    const visits = Array.from(runtime.state!.visits.dataSync());
    ids.forEach((id, row) => {
      expect(visits[id]).toBe(2);
      // Z = α(1 − α)z₁ + (1 − α)z₂.
      ensemble[id].forEach((v, k) => expect(v).toBeCloseTo(0.6 * 0.4 * predictions[0][row][k] + 0.4 * predictions[1][row][k], 5));
    });
    for (const id of [0, 1, 5, 10]) {
      expect(visits[id]).toBe(0);
      expect(ensemble[id]).toEqual([0, 0, 0]);
    }
    tf.dispose([labeled, unlabeled, batch.labeled.labels, ...Object.values(runtime.state!)]);
    for (const model of Object.values(runtime.trainable)) model.dispose();
  });
});

describe('temporal ensembling learns from unlabeled images', () => {
  it(
    'beats its supervised-only ablation on the Fashion-MNIST sample, 100 labels, 300 steps',
    async () => {
      const result = await learningRun({
        method: 'semisup:temporal-ensembling',
        config: {},
        supervisedConfig: { consistencyWeight: 0 },
        ...CI_LEARNING,
      });
      console.log('temporal-ensembling learning run', JSON.stringify(result));
      // Measured (seed 0): 0.629 vs 0.594 (+3.5); seeds 1 and 2: +0.5, +4.3 (README).
      expect(result.method).toBeGreaterThan(result.supervised + 0.015);
    },
    LEARNING_TIMEOUT,
  );
});
