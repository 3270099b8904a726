import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, initBackend } from '@ssl/core';
import type { SemiSupervisedBatch } from '@ssl/core';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import { describeMethodContract, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import semisup, { consistencyMse, meanTeacher, meanTeacherDecay, predictClasses, sigmoidRampUp } from '../index';
import type { MeanTeacherConfig, SemisupRuntime } from '../index';

const SHAPE: [number, number, number] = [12, 12, 1];

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:mean-teacher',
  config: { unlabeledRatio: 3, rampUp: 0.5 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 96 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 4,
  steps: 4,
  moreConfigs: [{ consistencyWeight: 0 }],
  invalidConfigs: [
    { config: { unlabeledRatio: 1.5 }, field: 'unlabeledRatio' },
    { config: { consistencyWeight: -2 }, field: 'consistencyWeight' },
    { config: { rampUp: 2 }, field: 'rampUp' },
    { config: { emaDecay: 1 }, field: 'emaDecay' },
    { config: { dropout: -0.1 }, field: 'dropout' },
  ],
  checkRun(result) {
    const runtime = result.runtime as SemisupRuntime;
    // The teacher is what gets evaluated, saved and (by default) classifies.
    expect(runtime.encoder).toBe(runtime.semisup.ema!.encoder);
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const fromTeacher = predictClasses(runtime, images);
    const fromStudent = predictClasses(runtime, images, { model: 'student' });
    expect(fromTeacher.shape).toEqual([3]);
    expect(fromStudent.shape).toEqual([3]);
    tf.dispose([fromTeacher, fromStudent, images]);
  },
});

function buildRuntime(overrides: Partial<MeanTeacherConfig>): { runtime: SemisupRuntime; config: MeanTeacherConfig } {
  const config = { ...meanTeacher.defaults, ...overrides };
  let seed = 1;
  const context = testBuildContext<MeanTeacherConfig>({
    config,
    inputShape: SHAPE,
    numClasses: 4,
    rng: new Random(3),
    createEncoder: () => createEncoder({ kind: 'cnn', inputShape: SHAPE, channels: [4, 8], seed: seed++ }),
  });
  return { runtime: meanTeacher.build(context) as SemisupRuntime, config };
}

describe('mean-teacher', () => {
  it('declares the teacher as momentum pairs with decay min(α, 1 − 1/(t + 1))', () => {
    expect(meanTeacherDecay(0.99, 0)).toBe(0);
    expect(meanTeacherDecay(0.99, 9)).toBeCloseTo(0.9, 12);
    expect(meanTeacherDecay(0.99, 500)).toBe(0.99);
    const { runtime } = buildRuntime({ emaDecay: 0.999 });
    const { student, ema } = runtime.semisup;
    const pairs = runtime.momentumPairs!.pairs;
    expect(pairs.map((p) => [p.target, p.source])).toEqual([
      [ema!.encoder.model, student.encoder.model],
      [ema!.classifier, student.classifier],
    ]);
    expect(
      runtime.momentumPairs!.momentum(
        testStepContext({ step: 99, epoch: 0, totalSteps: 100, progress: 0.99, rng: new Random(1), lr: 0.03 }),
      ),
    ).toBeCloseTo(0.99, 12);
    // The teacher is never given to the optimizer; it starts as a copy of the student.
    expect(Object.values(runtime.trainable)).not.toContain(ema!.classifier);
    ema!.classifier
      .getWeights()
      .forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(student.classifier.getWeights()[i].dataSync())));
    for (const model of [...Object.values(runtime.trainable), ...Object.values(runtime.frozen ?? {})]) model.dispose();
  });

  it('adds w(t) · MSE(softmax(student(view 1)), softmax(teacher(view 2))), the teacher in training mode', () => {
    const { runtime, config } = buildRuntime({ dropout: 0, consistencyWeight: 7, rampUp: 0.5 });
    const { student, ema } = runtime.semisup;
    // Move the teacher away from the student so the consistency term is not trivially small.
    ema!.classifier.setWeights(ema!.classifier.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 1, 'float32', 20 + i)));
    const images = (count: number, seed: number) => tf.randomUniform([count, ...SHAPE], 0, 1, 'float32', seed) as tf.Tensor4D;
    const labeled = images(4, 1);
    const [first, second] = [images(8, 2), images(8, 3)];
    const batch: SemiSupervisedBatch = {
      kind: 'semi-supervised',
      labeled: { images: labeled, views: [labeled], indices: sampleIds(4), labels: tf.tensor1d([0, 1, 2, 3], 'int32') },
      unlabeled: { images: first, views: [first, second], indices: sampleIds(8, 4) },
    };
    const context = testStepContext({ step: 10, epoch: 0, totalSteps: 100, progress: 0.1, rng: new Random(1), lr: 0.03 });
    const [loss, supervised, consistency, weight, expected] = tf.tidy(() => {
      const output = runtime.step(batch, context);
      const studentLogits = (
        student.classifier.apply(student.encoder.features(tf.concat([labeled, first]), { training: true })) as tf.Tensor2D
      ).slice([4, 0], [8, -1]);
      const teacherLogits = ema!.classifier.apply(ema!.encoder.features(second, { training: true })) as tf.Tensor2D;
      const direct = consistencyMse(tf.softmax(studentLogits) as tf.Tensor2D, tf.softmax(teacherLogits) as tf.Tensor2D);
      return [output.loss, output.metrics!.supervisedLoss, output.metrics!.consistencyLoss, output.metrics!.consistencyWeight, direct].map(
        (t) => t.dataSync()[0],
      );
    });
    expect(weight).toBeCloseTo(config.consistencyWeight * sigmoidRampUp(0.1, 0.5), 5);
    expect(consistency).toBeCloseTo(expected, 5);
    expect(consistency).toBeGreaterThan(1e-4);
    expect(loss).toBeCloseTo(supervised + weight * consistency, 5);
    tf.dispose([labeled, first, second, batch.labeled.labels]);
    for (const model of [...Object.values(runtime.trainable), ...Object.values(runtime.frozen ?? {})]) model.dispose();
  });
});

describe('mean-teacher learns from unlabeled images', () => {
  it(
    'its teacher beats the supervised-only ablation (teacher and student) on the Fashion-MNIST sample, 100 labels, 300 steps',
    async () => {
      const result = await learningRun({
        method: 'semisup:mean-teacher',
        config: {},
        supervisedConfig: { consistencyWeight: 0 },
        ...CI_LEARNING,
      });
      console.log('mean-teacher learning run', JSON.stringify(result));
      // Measured (seed 0): teacher 0.614; the ablation's teacher 0.555 and student 0.594. At 300 steps the
      // ablation's EMA lags its student, so the bar is the better of the two. Seeds 1 and 2: +0.9 and −0.2
      // over the ablation's student (README).
      const control = Math.max(result.supervised, result.supervisedStudent!);
      expect(result.method).toBeGreaterThan(control + 0.01);
    },
    LEARNING_TIMEOUT,
  );
});
