import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, initBackend } from '@ssl/core';
import type { SemiSupervisedBatch } from '@ssl/core';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import { describeMethodContract, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import semisup, { consistencyMse, piModel, predictClasses, sigmoidRampUp } from '../index';
import type { PiModelConfig, SemisupRuntime } from '../index';

const SHAPE: [number, number, number] = [12, 12, 1];

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:pi-model',
  config: { unlabeledRatio: 3, rampUp: 0.5 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 96 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], dropout: 0.1 },
  batchSize: 4,
  steps: 4,
  moreConfigs: [{ consistencyWeight: 0 }],
  invalidConfigs: [
    { config: { unlabeledRatio: 0 }, field: 'unlabeledRatio' },
    { config: { consistencyWeight: Number.POSITIVE_INFINITY }, field: 'consistencyWeight' },
    { config: { rampUp: -0.1 }, field: 'rampUp' },
    { config: { dropout: 1.2 }, field: 'dropout' },
  ],
  checkRun(result) {
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = predictClasses(result.runtime, images);
    expect(predictions.shape).toEqual([3]);
    tf.dispose([predictions, images]);
  },
});

function setup(overrides: Partial<PiModelConfig>, sameViews: boolean) {
  const config = { ...piModel.defaults, ...overrides };
  const runtime = piModel.build(
    testBuildContext<PiModelConfig>({
      config,
      inputShape: SHAPE,
      numClasses: 4,
      rng: new Random(3),
      createEncoder: () => createEncoder({ kind: 'cnn', inputShape: SHAPE, channels: [4, 8], seed: 2 }),
    }),
  ) as SemisupRuntime;
  const images = (count: number, seed: number) => tf.randomUniform([count, ...SHAPE], 0, 1, 'float32', seed) as tf.Tensor4D;
  const labeled = images(4, 1);
  const first = images(8, 2);
  const second = sameViews ? first : images(8, 3);
  const batch: SemiSupervisedBatch = {
    kind: 'semi-supervised',
    labeled: { images: labeled, views: [labeled], indices: sampleIds(4), labels: tf.tensor1d([0, 1, 2, 3], 'int32') },
    unlabeled: { images: first, views: [first, second], indices: sampleIds(8, 4) },
  };
  const dispose = () => {
    tf.dispose([labeled, first, second, batch.labeled.labels]);
    for (const model of Object.values(runtime.trainable)) model.dispose();
  };
  return { runtime, config, batch, dispose, parts: { labeled, first, second } };
}

const context = testStepContext({ step: 20, epoch: 0, totalSteps: 100, progress: 0.2, rng: new Random(1), lr: 0.03 });

describe('pi-model step', () => {
  it('adds w(t) · 1/(C|B|) Σ ‖z − z̃‖² of the two passes, forwarded with the labeled batch', () => {
    const { runtime, config, batch, dispose, parts } = setup({ dropout: 0, consistencyWeight: 5, rampUp: 0.5 }, false);
    const { student } = runtime.semisup;
    const [loss, supervised, consistency, weight, expected] = tf.tidy(() => {
      const output = runtime.step(batch, context);
      const all = student.classifier.apply(
        student.encoder.features(tf.concat([parts.labeled, parts.first, parts.second]), { training: true }),
      ) as tf.Tensor2D;
      const direct = consistencyMse(
        tf.softmax(all.slice([4, 0], [8, -1])) as tf.Tensor2D,
        tf.softmax(all.slice([12, 0], [8, -1])) as tf.Tensor2D,
      );
      return [output.loss, output.metrics!.supervisedLoss, output.metrics!.consistencyLoss, output.metrics!.consistencyWeight, direct].map(
        (t) => t.dataSync()[0],
      );
    });
    expect(weight).toBeCloseTo(config.consistencyWeight * sigmoidRampUp(0.2, 0.5), 5);
    expect(consistency).toBeCloseTo(expected, 6);
    expect(consistency).toBeGreaterThan(0);
    expect(loss).toBeCloseTo(supervised + weight * consistency, 5);
    dispose();
  });

  it('sees only model noise when both views are the same image: 0 without dropout, > 0 with it', () => {
    const consistencyWith = (dropout: number) => {
      const { runtime, batch, dispose } = setup({ dropout }, true);
      const value = tf.tidy(() => runtime.step(batch, context).metrics!.consistencyLoss.dataSync()[0]);
      dispose();
      return value;
    };
    expect(consistencyWith(0)).toBe(0);
    expect(consistencyWith(0.5)).toBeGreaterThan(0);
  });
});

describe('pi-model learns from unlabeled images', () => {
  it(
    'beats its supervised-only ablation on the Fashion-MNIST sample, 100 labels, 300 steps',
    async () => {
      const result = await learningRun({
        method: 'semisup:pi-model',
        config: {},
        supervisedConfig: { consistencyWeight: 0 },
        ...CI_LEARNING,
      });
      console.log('pi-model learning run', JSON.stringify(result));
      // Measured (seed 0): 0.611 vs 0.594 (+1.7); seeds 1 and 2: +0.9, +2.1 (README).
      expect(result.method).toBeGreaterThan(result.supervised + 0.005);
    },
    LEARNING_TIMEOUT,
  );
});
