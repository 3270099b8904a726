import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, initBackend } from '@ssl/core';
import type { SemiSupervisedBatch } from '@ssl/core';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import { describeMethodContract, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import semisup, { entropyLoss, entropyMin, predictClasses, sigmoidRampUp } from '../index';
import type { EntropyMinConfig, SemisupRuntime } from '../index';

const SHAPE: [number, number, number] = [12, 12, 1];

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:entropy-min',
  config: { unlabeledRatio: 3, rampUp: 0.5 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 96 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 4,
  steps: 4,
  moreConfigs: [{ entropyWeight: 0 }],
  invalidConfigs: [
    { config: { unlabeledRatio: -1 }, field: 'unlabeledRatio' },
    { config: { entropyWeight: -0.5 }, field: 'entropyWeight' },
    { config: { rampUp: 1.5 }, field: 'rampUp' },
    { config: { dropout: 1 }, field: 'dropout' },
  ],
  checkRun(result) {
    for (const record of result.history)
      if (record.metrics.entropy !== undefined) expect(record.metrics.entropy).toBeLessThanOrEqual(Math.log(10) + 1e-5);
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = predictClasses(result.runtime, images);
    expect(predictions.shape).toEqual([3]);
    tf.dispose([predictions, images]);
  },
});

describe('entropy-min step', () => {
  it('adds λ(t) times the mean entropy of the unlabeled predictions to the labeled cross-entropy', () => {
    const config = { ...entropyMin.defaults, entropyWeight: 2, rampUp: 0.5 };
    const runtime = entropyMin.build(
      testBuildContext<EntropyMinConfig>({
        config,
        inputShape: SHAPE,
        numClasses: 4,
        rng: new Random(3),
        createEncoder: () => createEncoder({ kind: 'cnn', inputShape: SHAPE, channels: [4, 8], seed: 2 }),
      }),
    ) as SemisupRuntime;
    const images = (count: number, seed: number) => tf.randomUniform([count, ...SHAPE], 0, 1, 'float32', seed) as tf.Tensor4D;
    const labeled = images(4, 1);
    const unlabeled = images(8, 2);
    const batch: SemiSupervisedBatch = {
      kind: 'semi-supervised',
      labeled: { images: labeled, views: [labeled], indices: sampleIds(4), labels: tf.tensor1d([0, 1, 2, 3], 'int32') },
      unlabeled: { images: unlabeled, views: [unlabeled], indices: sampleIds(8, 4) },
    };
    const { student } = runtime.semisup;
    const [loss, supervised, entropy, weight, expected] = tf.tidy(() => {
      const output = runtime.step(
        batch,
        testStepContext({ step: 30, epoch: 0, totalSteps: 100, progress: 0.3, rng: new Random(1), lr: 0.03 }),
      );
      const all = student.classifier.apply(student.encoder.features(tf.concat([labeled, unlabeled]), { training: true })) as tf.Tensor2D;
      const direct = entropyLoss(all.slice([4, 0], [8, -1]) as tf.Tensor2D);
      return [output.loss, output.metrics!.supervisedLoss, output.metrics!.entropy, output.metrics!.entropyWeight, direct].map(
        (t) => t.dataSync()[0],
      );
    });
    expect(weight).toBeCloseTo(2 * sigmoidRampUp(0.3, 0.5), 5);
    expect(entropy).toBeCloseTo(expected, 5);
    expect(loss).toBeCloseTo(supervised + weight * entropy, 5);
    tf.dispose([labeled, unlabeled, batch.labeled.labels]);
    for (const model of Object.values(runtime.trainable)) model.dispose();
  });
});

describe('entropy-min on real data', () => {
  it(
    'learns on the Fashion-MNIST sample, 100 labels (its gain over supervised-only is not robust at this budget: see the README)',
    async () => {
      const result = await learningRun({
        method: 'semisup:entropy-min',
        config: {},
        supervisedConfig: { entropyWeight: 0 },
        ...CI_LEARNING,
      });
      console.log('entropy-min learning run', JSON.stringify(result));
      // Measured (seed 0): 0.612 vs its ablation's 0.598 (+1.4); seeds 1 and 2: −2.8 and −3.0. Not a robust
      // gain at this budget (README), so this test checks only that it learns.
      expect(result.method).toBeGreaterThan(0.5);
      expect(result.supervised).toBeGreaterThan(0.5);
    },
    LEARNING_TIMEOUT,
  );
});
