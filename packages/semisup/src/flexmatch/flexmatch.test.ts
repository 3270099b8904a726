import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, initBackend } from '@ssl/core';
import type { SemiSupervisedBatch } from '@ssl/core';
import { describeMethodContract, disposeTestRuntime, expectClose, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import semisup, { flexMatchMapping, flexMatchThresholds, flexmatch, predictClasses } from '../index';
import type { FlexMatchCarry, FlexMatchConfig, SemisupRuntime } from '../index';

const SHAPE: [number, number, number] = [12, 12, 1];

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:flexmatch',
  config: { unlabeledRatio: 3, threshold: 0.5 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 96 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 4,
  steps: 4,
  moreConfigs: [
    { unlabeledRatio: 3, threshold: 0.5, distributionAlignment: true, thresholdWarmup: false },
    { unlabeledWeight: 0 },
    { unlabeledWeight: 0, dropout: 0.2, labeledView: 'randAugment' },
  ],
  invalidConfigs: [
    { config: { pseudoLabels: 'sharp' }, field: 'pseudoLabels' },
    { config: { temperature: -1 }, field: 'temperature' },
    { config: { augment: { cutoutSize: 1.5 } }, field: 'augment.cutoutSize' },
    { config: { threshold: 1.5 }, field: 'threshold' },
    { config: { unlabeledRatio: 0 }, field: 'unlabeledRatio' },
    { config: { unlabeledWeight: -1 }, field: 'unlabeledWeight' },
    { config: { thresholdWarmup: 'yes' }, field: 'thresholdWarmup' },
    { config: { distributionAlignment: 1 }, field: 'distributionAlignment' },
    { config: { alignmentMomentum: 1 }, field: 'alignmentMomentum' },
    { config: { emaDecay: 1 }, field: 'emaDecay' },
    { config: { encoderLearningRateScale: Number.NaN }, field: 'encoderLearningRateScale' },
    { config: { dropout: -0.1 }, field: 'dropout' },
  ],
  checkRun(result) {
    const runtime = result.runtime as SemisupRuntime;
    expect(runtime.encoder).toBe(runtime.semisup.ema!.encoder);
    // Per-sample state: −1 (none yet) or a class of the 10.
    const selected = Array.from(runtime.state!.selectedLabels.dataSync());
    expect(selected.every((v) => Number.isInteger(v) && v >= -1 && v < 10)).toBe(true);
    expect(result.history.every((r) => r.metrics.maskRate === undefined || (r.metrics.maskRate >= 0 && r.metrics.maskRate <= 1))).toBe(
      true,
    );
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = predictClasses(runtime, images);
    expect(predictions.shape).toEqual([3]);
    tf.dispose([predictions, images]);
  },
});

/** T(c) = M(β(c)) τ with β = σ / max(max σ, N − Σσ) (warm-up) or σ / max σ, in plain arithmetic. */
function referenceThresholds(counts: number[], unlabeledCount: number, threshold: number, warmup: boolean): number[] {
  const largest = Math.max(...counts);
  const unused = unlabeledCount - counts.reduce((a, v) => a + v, 0);
  const normaliser = warmup ? Math.max(largest, unused) : largest;
  return counts.map((s) => {
    const beta = normaliser === 0 ? 0 : s / normaliser;
    return (beta / (2 - beta)) * threshold;
  });
}

describe('flexMatchThresholds', () => {
  it('equals M(β(c)) · τ with and without warm-up; M(0) = 0, M(1) = 1, convex', () => {
    expect(flexMatchMapping(0)).toBe(0);
    expect(flexMatchMapping(1)).toBe(1);
    expect(flexMatchMapping(0.5)).toBeLessThan(0.5);
    for (const [counts, warmup] of [
      [[10, 40, 0, 25], true],
      [[10, 40, 0, 25], false],
      [[300, 250, 200, 240], true],
      [[0, 0, 0, 0], true],
      [[0, 0, 0, 0], false],
    ] as const) {
      const actual = tf.tidy(() => flexMatchThresholds(tf.tensor1d(counts as unknown as number[]), 1000, 0.95, warmup).dataSync());
      expectClose(actual, Float64Array.from(referenceThresholds([...counts], 1000, 0.95, warmup)), { absolute: 1e-6 });
    }
    // Warm-up: while most of the 1 000 samples are unused the best class is far below τ; without it, it is at τ.
    const [warm, cold] = [true, false].map((w) =>
      tf.tidy(() => flexMatchThresholds(tf.tensor1d([10, 40, 0, 25]), 1000, 0.95, w).dataSync()),
    );
    expect(warm[1]).toBeLessThan(0.1);
    expect(cold[1]).toBeCloseTo(0.95, 6);
  });
});

function buildRuntime(overrides: Partial<FlexMatchConfig>, sampleCount: number): SemisupRuntime<FlexMatchCarry> {
  const config = { ...flexmatch.defaults, ...overrides };
  let seed = 1;
  const context = testBuildContext<FlexMatchConfig>({
    config,
    inputShape: SHAPE,
    numClasses: 4,
    rng: new Random(3),
    sampleCount,
    createEncoder: () => createEncoder({ kind: 'cnn', inputShape: SHAPE, channels: [4, 8], seed: seed++ }),
  });
  return flexmatch.build(context) as SemisupRuntime<FlexMatchCarry>;
}

describe('flexmatch step', () => {
  it('masks with the class thresholds of the stored selected labels and stores the new confident predictions in afterStep', () => {
    const sampleCount = 12;
    const runtime = buildRuntime({ threshold: 0.3, thresholdWarmup: false }, sampleCount);
    const { student } = runtime.semisup;
    // Zero kernel: every image gets logits = bias, so every prediction is class 0 with a known confidence.
    const [kernel] = student.classifier.getWeights();
    const bias = tf.tensor1d([1, 0.5, 0, -1]);
    student.classifier.setWeights([tf.zerosLike(kernel), bias]);
    const confidence = tf.tidy(() => tf.max(tf.softmax(bias)).dataSync()[0]);
    expect(confidence).toBeGreaterThan(0.3);
    const images = (count: number, seed: number) => tf.randomUniform([count, ...SHAPE], 0, 1, 'float32', seed) as tf.Tensor4D;
    const labeled = images(4, 1);
    const [weak, strong] = [images(8, 2), images(8, 3)];
    const batch: SemiSupervisedBatch = {
      kind: 'semi-supervised',
      labeled: { images: labeled, views: [labeled], indices: sampleIds(4), labels: tf.tensor1d([0, 1, 2, 3], 'int32') },
      unlabeled: { images: weak, views: [weak, strong], indices: sampleIds(8, 4) },
    };
    const context = testStepContext({ step: 0, epoch: 0, totalSteps: 10, progress: 0, rng: new Random(1), lr: 0.03 });
    const selected = runtime.state!.selectedLabels;
    // No confident prediction stored yet: σ = 0, so without warm-up every threshold is 0 and all pass.
    const first = tf.tidy(() => {
      const output = runtime.step(batch, context);
      runtime.afterStep!(batch, context, output.carry);
      return output.metrics!.maskRate.dataSync()[0];
    });
    expect(first).toBe(1);
    expect(Array.from(selected.dataSync())).toEqual([-1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Now σ = (8, 0, 0, 0): class 0's threshold is M(1)·τ = τ, which the confidence reaches.
    const second = tf.tidy(() => runtime.step(batch, context).metrics!.maskRate.dataSync()[0]);
    expect(second).toBe(1);
    const strict = buildRuntime({ threshold: Math.fround(confidence + 1e-4), thresholdWarmup: false }, sampleCount);
    strict.semisup.student.classifier.setWeights(student.classifier.getWeights());
    strict.state!.selectedLabels.assign(selected);
    const rejected = tf.tidy(() => strict.step(batch, context).metrics!.maskRate.dataSync()[0]);
    expect(rejected).toBe(0);
    tf.dispose([labeled, weak, strong, batch.labeled.labels, bias]);
    for (const r of [runtime, strict]) disposeTestRuntime(r);
  });
});

describe('flexmatch encoderLearningRateScale', () => {
  it("gives the student encoder that fraction of the classifier's rate, and no scales at the default 1", () => {
    for (const [scale, expected] of [
      [0, { encoder: 0, classifier: 1 }],
      [1, undefined],
    ] as const) {
      const runtime = buildRuntime({ encoderLearningRateScale: scale }, 8);
      expect(runtime.learningRateScales).toEqual(expected);
      disposeTestRuntime(runtime);
    }
  });
});

describe('flexmatch learns from unlabeled images', () => {
  it(
    'its EMA model learns on the Fashion-MNIST sample, 100 labels, 300 steps (it does not beat supervised-only at this budget)',
    async () => {
      const result = await learningRun({
        method: 'semisup:flexmatch',
        config: { unlabeledRatio: 3 },
        supervisedConfig: { unlabeledRatio: 3, unlabeledWeight: 0 },
        ...CI_LEARNING,
      });
      console.log('flexmatch learning run', JSON.stringify(result));
      // Measured (seed 0): EMA 0.572 vs the ablation's 0.632 (student 0.598); seeds 1 and 2 in the README. At
      // 300 steps almost no unlabeled sample reaches τ = 0.95, so the warm-up keeps every class threshold near
      // 0: every pseudo-label counts, as pseudo-labels with τ 0, which do not beat supervised-only here either.
      // This test checks only that it learns.
      expect(result.method).toBeGreaterThan(0.5);
      expect(result.supervised).toBeGreaterThan(0.5);
    },
    LEARNING_TIMEOUT,
  );
});
