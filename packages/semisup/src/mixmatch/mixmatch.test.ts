import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, initBackend } from '@ssl/core';
import type { SemiSupervisedBatch } from '@ssl/core';
import { describeMethodContract, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import semisup, { consistencyMse, guessLabels, linearRampUp, mixmatch, predictClasses, softCrossEntropy } from '../index';
import type { MixMatchConfig, SemisupRuntime } from '../index';

const SHAPE: [number, number, number] = [12, 12, 1];

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:mixmatch',
  config: { unlabeledRatio: 2 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 96 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 4,
  steps: 4,
  moreConfigs: [{ augmentations: 3, rampUp: 0 }, { unlabeledWeight: 0 }],
  invalidConfigs: [
    { config: { augmentations: 0 }, field: 'augmentations' },
    { config: { temperature: 0 }, field: 'temperature' },
    { config: { alpha: -1 }, field: 'alpha' },
    { config: { unlabeledWeight: -1 }, field: 'unlabeledWeight' },
    { config: { rampUp: 2 }, field: 'rampUp' },
    { config: { emaDecay: 1 }, field: 'emaDecay' },
  ],
  checkRun(result) {
    const runtime = result.runtime as SemisupRuntime;
    expect(runtime.encoder).toBe(runtime.semisup.ema!.encoder);
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = predictClasses(runtime, images);
    expect(predictions.shape).toEqual([3]);
    tf.dispose([predictions, images]);
  },
});

describe('mixmatch step', () => {
  it('is L_X + λ_U(t) L_U on guessed, sharpened labels; with λ′ → 1 (α → 0) MixUp leaves every sample as it was', () => {
    const config: MixMatchConfig = { ...mixmatch.defaults, alpha: 1e-3, unlabeledWeight: 50, rampUp: 0.5 };
    let seed = 1;
    const runtime = mixmatch.build(
      testBuildContext<MixMatchConfig>({
        config,
        inputShape: SHAPE,
        numClasses: 4,
        rng: new Random(3),
        createEncoder: () => createEncoder({ kind: 'cnn', inputShape: SHAPE, channels: [4, 8], seed: seed++ }),
      }),
    ) as SemisupRuntime;
    const { student } = runtime.semisup;
    const images = (count: number, s: number) => tf.randomUniform([count, ...SHAPE], 0, 1, 'float32', s) as tf.Tensor4D;
    const labeled = images(4, 1);
    const [first, second] = [images(4, 2), images(4, 3)];
    const labels = tf.tensor1d([0, 1, 2, 3], 'int32');
    const batch: SemiSupervisedBatch = {
      kind: 'semi-supervised',
      labeled: { images: labeled, views: [labeled], indices: sampleIds(4), labels },
      unlabeled: { images: first, views: [first, second], indices: sampleIds(4, 4) },
    };
    const context = testStepContext({ step: 3, epoch: 0, totalSteps: 10, progress: 0.1, rng: new Random(9), lr: 0.03 });
    const [loss, supervised, unlabeled, weight, expectedSupervised, expectedUnlabeled] = tf.tidy(() => {
      const output = runtime.step(batch, context);
      const logitsOf = (x: tf.Tensor4D) => student.classifier.apply(student.encoder.features(x, { training: true })) as tf.Tensor2D;
      const guessLogits = logitsOf(tf.concat([first, second]));
      const guess = guessLabels(
        [tf.slice(guessLogits, [0, 0], [4, -1]), tf.slice(guessLogits, [4, 0], [4, -1])].map((l) => tf.softmax(l) as tf.Tensor2D),
        0.5,
      );
      const all = logitsOf(tf.concat([labeled, first, second]));
      const directSupervised = softCrossEntropy(tf.slice(all, [0, 0], [4, -1]), tf.oneHot(labels, 4).toFloat() as tf.Tensor2D);
      const directUnlabeled = consistencyMse(
        tf.softmax(tf.slice(all, [4, 0], [8, -1])) as tf.Tensor2D,
        tf.concat([guess, guess]) as tf.Tensor2D,
      );
      return [
        output.loss,
        output.metrics!.supervisedLoss,
        output.metrics!.unlabeledLoss,
        output.metrics!.unlabeledWeight,
        directSupervised,
        directUnlabeled,
      ].map((t) => t.dataSync()[0]);
    });
    expect(weight).toBeCloseTo(50 * linearRampUp(0.1, 0.5), 5);
    expect(supervised).toBeCloseTo(expectedSupervised, 4);
    expect(unlabeled).toBeCloseTo(expectedUnlabeled, 5);
    expect(unlabeled).toBeGreaterThan(1e-4);
    expect(loss).toBeCloseTo(supervised + weight * unlabeled, 4);
    tf.dispose([labeled, first, second, labels]);
    for (const model of [...Object.values(runtime.trainable), ...Object.values(runtime.frozen ?? {})]) model.dispose();
  });
});

describe('mixmatch learns from unlabeled images', () => {
  it(
    'its EMA model learns on the Fashion-MNIST sample, 100 labels, 300 steps, λ_U 10 (it does not beat supervised-only at this budget)',
    async () => {
      const result = await learningRun({
        method: 'semisup:mixmatch',
        config: { unlabeledRatio: 1, unlabeledWeight: 10, rampUp: 0.3 },
        supervisedConfig: { unlabeledRatio: 1, unlabeledWeight: 0 },
        ...CI_LEARNING,
      });
      console.log('mixmatch learning run', JSON.stringify(result));
      // Measured (seed 0): EMA 0.626 vs the ablation's 0.632 (students 0.616 vs 0.598); seeds 1 and 2: −3.6 and
      // +0.4 (README). The paper's λ_U 100 collapses to one class here (0.100 on seed 0, 0.102 on seed 1).
      // This test checks that it learns.
      expect(result.method).toBeGreaterThan(0.5);
      expect(result.supervised).toBeGreaterThan(0.5);
    },
    LEARNING_TIMEOUT,
  );
});
