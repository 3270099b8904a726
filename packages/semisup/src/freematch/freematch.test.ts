import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, createRegistry, initBackend } from '@ssl/core';
import type { SemiSupervisedBatch } from '@ssl/core';
import { describeMethodContract, disposeTestRuntime, expectClose, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import semisup, { freeMatchThresholds, freeMatchUpdate, freematch, predictClasses } from '../index';
import type { FreeMatchConfig, FreeMatchState, SemisupRuntime } from '../index';
import { NO_UNLABELED_VIEWS, classifierLogits } from '../shared/classifier-network';
import { weakRandAugment } from '../views/weak-rand-augment';

const SHAPE: [number, number, number] = [12, 12, 1];

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:freematch',
  config: { unlabeledRatio: 3 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 96 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 4,
  steps: 4,
  moreConfigs: [
    { unlabeledRatio: 3, fairnessWeight: 0.01, thresholdMomentum: 0.9 },
    { unlabeledWeight: 0 },
    { unlabeledRatio: 3, encoderLearningRateScale: 0.1 },
    { unlabeledRatio: 3, fairnessWeight: 0.01, dropout: 0.2, labeledView: 'randAugment' },
  ],
  invalidConfigs: [
    { config: { pseudoLabels: 'sharp' }, field: 'pseudoLabels' },
    { config: { temperature: -1 }, field: 'temperature' },
    { config: { unlabeledRatio: 0 }, field: 'unlabeledRatio' },
    { config: { unlabeledWeight: -1 }, field: 'unlabeledWeight' },
    { config: { thresholdMomentum: 1 }, field: 'thresholdMomentum' },
    { config: { fairnessWeight: -0.1 }, field: 'fairnessWeight' },
    { config: { emaDecay: 1.5 }, field: 'emaDecay' },
    { config: { encoderLearningRateScale: -0.1 }, field: 'encoderLearningRateScale' },
    { config: { augment: { numOps: 1.5 } }, field: 'augment.numOps' },
    { config: { labeledView: 1 }, field: 'labeledView' },
  ],
  checkRun(result) {
    const runtime = result.runtime as SemisupRuntime;
    const [tau] = runtime.state!.globalThreshold.dataSync();
    expect(tau).toBeGreaterThan(0);
    expect(tau).toBeLessThanOrEqual(1);
    const marginal = Array.from(runtime.state!.classMarginal.dataSync());
    expect(marginal.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 4);
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = predictClasses(runtime, images);
    expect(predictions.shape).toEqual([3]);
    tf.dispose([predictions, images]);
  },
});

describe('freeMatchUpdate and freeMatchThresholds', () => {
  it('follow eq. 5–8 computed by hand', () => {
    const q = [
      [0.7, 0.2, 0.1],
      [0.2, 0.5, 0.3],
      [0.6, 0.3, 0.1],
      [0.1, 0.1, 0.8],
    ];
    const previous = { tau: 0.5, marginal: [0.5, 0.3, 0.2], histogram: [0.4, 0.4, 0.2] };
    const m = 0.9;
    const [tau, marginal, histogram, thresholds] = tf.tidy(() => {
      const state: FreeMatchState = {
        globalThreshold: tf.tensor1d([previous.tau]),
        classMarginal: tf.tensor1d(previous.marginal),
        histogram: tf.tensor1d(previous.histogram),
      };
      const next = freeMatchUpdate(state, tf.tensor2d(q), m);
      const t = freeMatchThresholds(next.globalThreshold, next.classMarginal);
      return [next.globalThreshold, next.classMarginal, next.histogram, t].map((x) => x.dataSync());
    });
    const meanMax = (0.7 + 0.5 + 0.6 + 0.8) / 4;
    const expectedTau = m * previous.tau + (1 - m) * meanMax;
    expectClose(tau, Float64Array.from([expectedTau]), { relative: 1e-6 });
    const meanQ = [0, 1, 2].map((c) => q.reduce((a, row) => a + row[c], 0) / 4);
    const expectedMarginal = previous.marginal.map((p, c) => m * p + (1 - m) * meanQ[c]);
    expectClose(marginal, Float64Array.from(expectedMarginal), { relative: 1e-6 });
    // argmax: 0, 1, 0, 2 → histogram (0.5, 0.25, 0.25).
    const expectedHistogram = previous.histogram.map((h, c) => m * h + (1 - m) * [0.5, 0.25, 0.25][c]);
    expectClose(histogram, Float64Array.from(expectedHistogram), { relative: 1e-6 });
    const largest = Math.max(...expectedMarginal);
    expectClose(thresholds, Float64Array.from(expectedMarginal.map((p) => (p / largest) * expectedTau)), { relative: 1e-6 });
  });
});

function buildRuntime(overrides: Partial<FreeMatchConfig>): SemisupRuntime<FreeMatchState> {
  const config = { ...freematch.defaults, ...overrides };
  let seed = 1;
  const context = testBuildContext<FreeMatchConfig>({
    config,
    inputShape: SHAPE,
    numClasses: 4,
    rng: new Random(3),
    createEncoder: () => createEncoder({ kind: 'cnn', inputShape: SHAPE, channels: [4, 8], seed: seed++ }),
  });
  return freematch.build(context) as SemisupRuntime<FreeMatchState>;
}

describe('freematch step', () => {
  it('starts at τ_0 = 1/K, masks with the updated local thresholds and assigns the new state in afterStep', () => {
    const runtime = buildRuntime({ thresholdMomentum: 0.5, fairnessWeight: 0.1 });
    const state = runtime.state!;
    expect(state.globalThreshold.dataSync()[0]).toBeCloseTo(0.25, 7);
    const images = (count: number, seed: number) => tf.randomUniform([count, ...SHAPE], 0, 1, 'float32', seed) as tf.Tensor4D;
    const labeled = images(4, 1);
    const [weak, strong] = [images(8, 2), images(8, 3)];
    const batch: SemiSupervisedBatch = {
      kind: 'semi-supervised',
      labeled: { images: labeled, views: [labeled], indices: sampleIds(4), labels: tf.tensor1d([0, 1, 2, 3], 'int32') },
      unlabeled: { images: weak, views: [weak, strong], indices: sampleIds(8, 4) },
    };
    const context = testStepContext({ step: 0, epoch: 0, totalSteps: 10, progress: 0, rng: new Random(1), lr: 0.03 });
    const { student } = runtime.semisup;
    const metrics = tf.tidy(() => {
      const output = runtime.step(batch, context);
      // The mask from the loss block with the thresholds of the state updated by this batch.
      const weakLogits = (
        student.classifier.apply(student.encoder.features(tf.concat([labeled, weak, strong]), { training: true })) as tf.Tensor2D
      ).slice([4, 0], [8, -1]);
      const q = tf.softmax(weakLogits) as tf.Tensor2D;
      const current = {
        globalThreshold: state.globalThreshold,
        classMarginal: state.classMarginal,
        histogram: state.histogram,
      } as unknown as FreeMatchState;
      const next = freeMatchUpdate(current, q, 0.5);
      const thresholds = freeMatchThresholds(next.globalThreshold, next.classMarginal).dataSync();
      const expectedMask = Array.from(q.arraySync() as number[][]).map((row) => {
        const label = row.indexOf(Math.max(...row));
        return row[label] >= thresholds[label] ? 1 : 0;
      });
      runtime.afterStep!(batch, context, output.carry);
      return {
        maskRate: output.metrics!.maskRate.dataSync()[0],
        expectedRate: expectedMask.reduce((a: number, v) => a + v, 0) / 8,
        tau: output.metrics!.globalThreshold.dataSync()[0],
        expectedTau: next.globalThreshold.dataSync()[0],
        fairness: output.metrics!.fairnessLoss.dataSync()[0],
      };
    });
    expect(metrics.maskRate).toBeCloseTo(metrics.expectedRate, 6);
    expect(metrics.tau).toBeCloseTo(metrics.expectedTau, 6);
    expect(Number.isFinite(metrics.fairness)).toBe(true);
    expect(state.globalThreshold.dataSync()[0]).toBeCloseTo(metrics.expectedTau, 6);
    expect(state.globalThreshold.dataSync()[0]).not.toBeCloseTo(0.25, 3);
    tf.dispose([labeled, weak, strong, batch.labeled.labels]);
    disposeTestRuntime(runtime);
  });
});

describe('freematch encoderLearningRateScale', () => {
  it("gives the student encoder that fraction of the classifier's rate, and no scales at the default 1", () => {
    for (const [scale, expected] of [
      [0.1, { encoder: 0.1, classifier: 1 }],
      [1, undefined],
    ] as const) {
      const runtime = buildRuntime({ encoderLearningRateScale: scale });
      expect(runtime.learningRateScales).toEqual(expected);
      disposeTestRuntime(runtime);
    }
  });
});

describe('freematch augment', () => {
  it("overrides the unlabeled images' weakStrong policy, shares its translation with the labeled weak view, and drops both for λu 0", () => {
    const registry = createRegistry().use(semisup());
    const augment = { cutoutSize: 0.25, numOps: 1, translateFraction: 0.1 };
    expect(freematch.views(registry.create('semisup:freematch', { augment }).config)).toEqual({
      labeled: { name: 'weak', overrides: { translateFraction: 0.1 } },
      unlabeled: { name: 'weakStrong', overrides: augment },
    });
    expect(freematch.views(registry.create('semisup:freematch', { augment, unlabeledWeight: 0 }).config).unlabeled).toEqual(
      NO_UNLABELED_VIEWS,
    );
  });

  it("gives labeled images Noisy Student's RandAugment view with labeledView 'randAugment', in the ablation too", () => {
    const registry = createRegistry().use(semisup());
    const config = { augment: { translateFraction: 0.1 }, labeledView: 'randAugment' as const };
    for (const unlabeledWeight of [1, 0]) {
      const views = freematch.views(registry.create('semisup:freematch', { ...config, unlabeledWeight }).config);
      expect(views.labeled).toEqual(weakRandAugment({ translateFraction: 0.1 }));
    }
  });
});

describe('freematch dropout', () => {
  it("drops the student's features in training only; the reported model's predictions are deterministic", () => {
    const runtime = buildRuntime({ dropout: 0.5 });
    const { student } = runtime.semisup;
    const images = tf.randomUniform([6, 12, 12, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const [train1, train2, infer1, infer2] = tf.tidy(() =>
      [
        classifierLogits(student, images, true),
        classifierLogits(student, images, true),
        classifierLogits(student, images, false),
        classifierLogits(student, images, false),
      ].map((logits) => Array.from(logits.dataSync())),
    );
    expect(train1).not.toEqual(train2);
    expect(infer1).toEqual(infer2);
    const reported = tf.tidy(() => [1, 2].map(() => Array.from(runtime.classifier!.probabilities(images, []).dataSync())));
    expect(reported[0]).toEqual(reported[1]);
    tf.dispose(images);
    disposeTestRuntime(runtime);
  });
});

describe('freematch learns from unlabeled images', () => {
  it(
    'its EMA model learns on the Fashion-MNIST sample, 100 labels, 300 steps (it does not beat supervised-only at this budget)',
    async () => {
      const result = await learningRun({
        method: 'semisup:freematch',
        config: { unlabeledRatio: 3 },
        supervisedConfig: { unlabeledRatio: 3, unlabeledWeight: 0 },
        ...CI_LEARNING,
      });
      console.log('freematch learning run', JSON.stringify(result));
      // Measured (seed 0): EMA 0.572 vs the ablation's 0.632 (student 0.598); seeds 1 and 2 in the README. With
      // momentum 0.999, 300 steps keep τ_t near its start 1/K, so nearly every pseudo-label counts (with
      // momentum 0.99: 0.590). It does not beat supervised-only at this budget; this test checks that it learns.
      expect(result.method).toBeGreaterThan(0.5);
      expect(result.supervised).toBeGreaterThan(0.5);
    },
    LEARNING_TIMEOUT,
  );
});
