import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, createRegistry, emaUpdate, initBackend } from '@ssl/core';
import type { SemiSupervisedBatch, StepContext } from '@ssl/core';
import { describeMethodContract, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import semisup, { classify, fixMatchEmaDecay, fixmatch } from '../index';
import type { FixMatchConfig, FixMatchRuntime } from '../index';

const SHAPE: [number, number, number] = [12, 12, 1];
const tinyEncoder = { kind: 'cnn', inputShape: SHAPE, channels: [4, 8] } as const;

// Single-threaded wasm: bit-exact reruns for the method contract's determinism and resume tests.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

function buildRuntime(overrides: Partial<FixMatchConfig> = {}, numClasses = 4): FixMatchRuntime {
  const config = { ...fixmatch.defaults, ...overrides };
  fixmatch.validate?.(config);
  let seed = 1;
  const context = testBuildContext<FixMatchConfig>({
    config,
    inputShape: SHAPE,
    numClasses,
    rng: new Random(3),
    createEncoder: () => createEncoder({ ...tinyEncoder, seed: seed++ }),
  });
  return fixmatch.build(context) as FixMatchRuntime;
}

function handBatch(labeled: number, unlabeled: number): SemiSupervisedBatch {
  const images = (n: number, seed: number) => tf.randomUniform([n, ...SHAPE], 0, 1, 'float32', seed) as tf.Tensor4D;
  const labeledImages = images(labeled, 1);
  const weak = images(unlabeled, 2);
  return {
    kind: 'semi-supervised',
    labeled: {
      images: labeledImages,
      views: [labeledImages],
      indices: sampleIds(labeled),
      labels: tf.tensor1d(
        Array.from({ length: labeled }, (_, i) => i % 4),
        'int32',
      ),
    },
    unlabeled: { images: weak, views: [weak, images(unlabeled, 3)], indices: sampleIds(unlabeled, labeled) },
  };
}

const stepContext = (step: number): StepContext =>
  testStepContext({ step, epoch: 0, totalSteps: 100, progress: step / 100, rng: new Random(step), lr: 0.03 });

function disposeRuntime(runtime: FixMatchRuntime): void {
  for (const model of [...Object.values(runtime.trainable), ...Object.values(runtime.frozen ?? {})]) model.dispose();
}

describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:fixmatch',
  config: { unlabeledRatio: 3, threshold: 0.5 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 96 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 4,
  steps: 4,
  moreConfigs: [
    { unlabeledRatio: 3, threshold: 0.5, distributionAlignment: true },
    { unlabeledRatio: 3, threshold: 0.5, pseudoLabels: 'soft', encoderLearningRateScale: 0.1 },
    { unlabeledRatio: 3, threshold: 0.5, dropout: 0.2, labeledView: 'randAugment' },
  ],
  invalidConfigs: [
    { config: { pseudoLabels: 'sharp' }, field: 'pseudoLabels' },
    { config: { temperature: 0 }, field: 'temperature' },
    { config: { encoderLearningRateScale: -0.1 }, field: 'encoderLearningRateScale' },
    { config: { distributionAlignment: 'on' }, field: 'distributionAlignment' },
    { config: { alignmentMomentum: 1 }, field: 'alignmentMomentum' },
    { config: { threshold: 1.5 }, field: 'threshold' },
    { config: { threshold: -0.1 }, field: 'threshold' },
    { config: { unlabeledRatio: 0 }, field: 'unlabeledRatio' },
    { config: { unlabeledRatio: 2.5 }, field: 'unlabeledRatio' },
    { config: { unlabeledWeight: -1 }, field: 'unlabeledWeight' },
    { config: { emaDecay: 1 }, field: 'emaDecay' },
    { config: { augment: { cutoutSize: 2 } }, field: 'augment.cutoutSize' },
    { config: { dropout: 1 }, field: 'dropout' },
    { config: { labeledView: 'strong' }, field: 'labeledView' },
  ],
  checkRun(result) {
    expect(result.history.every((r) => r.metrics.maskRate >= 0 && r.metrics.maskRate <= 1)).toBe(true);
    const images = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = classify(result.runtime, images);
    expect(predictions.shape).toEqual([4]);
    expect(predictions.dtype).toBe('int32');
    tf.dispose([predictions, images]);
  },
});

describe('fixmatch config', () => {
  it('defaults to the paper threshold and draws unlabeledRatio × batchSize unlabeled images per step', () => {
    const registry = createRegistry().use(semisup());
    expect(registry.create('semisup:fixmatch').config.threshold).toBe(0.95);
    expect(fixmatch.unlabeledRatio?.(registry.create('semisup:fixmatch', { unlabeledRatio: 5 }).config)).toBe(5);
  });
});

describe('fixmatch step', () => {
  it('applies the confidence threshold with ≥ through the step, and weights ℓu by λu', () => {
    const runtime = buildRuntime({ threshold: 0.5 });
    const { classifier } = runtime.fixmatch.student;
    // Zero kernel: every image gets logits = bias, so max softmax is known exactly.
    const [kernel] = classifier.getWeights();
    const bias4 = tf.tensor1d([2, 0.5, 0, -1]);
    classifier.setWeights([tf.zerosLike(kernel), bias4]);
    const confidence = tf.max(tf.softmax(bias4)).dataSync()[0]; // float32, as the loss computes it
    const batch = handBatch(4, 8);
    const maskRateAt = (threshold: number) => {
      const thresholded = buildRuntime({ threshold });
      thresholded.fixmatch.student.classifier.setWeights(classifier.getWeights());
      const rate = tf.tidy(() => (thresholded.step(batch, stepContext(0)).metrics?.maskRate as tf.Scalar).dataSync()[0]);
      disposeRuntime(thresholded);
      return rate;
    };
    expect(maskRateAt(confidence)).toBe(1); // exactly at τ counts
    expect(maskRateAt(Math.fround(confidence + 1e-6))).toBe(0);
    // Every sample is in the mask at τ = 0.5: ℓ_u = CE of the strong logits (= bias) against argmax = class 0.
    const weighted = buildRuntime({ threshold: 0.5, unlabeledWeight: 2 });
    weighted.fixmatch.student.classifier.setWeights(classifier.getWeights());
    const [unlabeledLoss, loss, supervisedLoss] = tf.tidy(() => {
      const o = weighted.step(batch, stepContext(0));
      return [o.metrics!.unlabeledLoss.dataSync()[0], o.loss.dataSync()[0], o.metrics!.supervisedLoss.dataSync()[0]];
    });
    expect(unlabeledLoss).toBeCloseTo(-Math.log(confidence), 5);
    expect(loss).toBeCloseTo(supervisedLoss + 2 * unlabeledLoss, 5); // eq. 5 with λu = 2
    tf.dispose([bias4, batch.labeled.images, batch.labeled.labels, ...batch.unlabeled.views]);
    disposeRuntime(runtime);
    disposeRuntime(weighted);
  });
});

describe('fixmatch soft pseudo-labels', () => {
  it("trains the strong view towards the weak view's sharpened distribution under the same mask, and scales the encoder's lr", () => {
    const batch = handBatch(4, 8);
    const bias = [2, 0.5, 0, -1];
    const unlabeledLossOf = (overrides: Partial<FixMatchConfig>) => {
      const runtime = buildRuntime({ threshold: 0.5, ...overrides });
      const { classifier } = runtime.fixmatch.student;
      const [kernel] = classifier.getWeights();
      // Zero kernel: every weak and strong row has logits = bias, so q = softmax(bias) for all of them.
      classifier.setWeights([tf.zerosLike(kernel), tf.tensor1d(bias)]);
      const [loss, maskRate] = tf.tidy(() => {
        const o = runtime.step(batch, stepContext(0));
        return [o.metrics!.unlabeledLoss.dataSync()[0], o.metrics!.maskRate.dataSync()[0]];
      });
      disposeRuntime(runtime);
      return { loss, maskRate };
    };
    const q = tf.tidy(() => Array.from(tf.softmax(tf.tensor1d(bias)).dataSync()));
    const sharpened = (temperature: number) => {
      const powered = q.map((p) => Math.pow(p, 1 / temperature));
      return powered.map((p) => p / powered.reduce((a, v) => a + v, 0));
    };
    const crossEntropy = (target: number[]) => -target.reduce((sum, t, c) => sum + t * Math.log(q[c]), 0);
    const hard = unlabeledLossOf({});
    expect(hard.loss).toBeCloseTo(crossEntropy([1, 0, 0, 0]), 5);
    for (const temperature of [0.5, 1]) {
      const soft = unlabeledLossOf({ pseudoLabels: 'soft', temperature });
      expect(soft.maskRate).toBe(hard.maskRate);
      expect(soft.loss).toBeCloseTo(crossEntropy(sharpened(temperature)), 5);
    }
    // The mask is the hard one's: at τ above max q nothing passes, soft or hard.
    expect(unlabeledLossOf({ pseudoLabels: 'soft', threshold: 0.9 })).toEqual({ loss: 0, maskRate: 0 });
    tf.dispose([batch.labeled.images, batch.labeled.labels, ...batch.unlabeled.views]);

    const gentle = buildRuntime({ encoderLearningRateScale: 0.1 });
    expect(gentle.learningRateScales).toEqual({ encoder: 0.1, classifier: 1 });
    disposeRuntime(gentle);
    const plain = buildRuntime();
    expect(plain.learningRateScales).toBeUndefined();
    disposeRuntime(plain);
  });
});

describe('fixmatch distribution alignment', () => {
  it('divides the weak predictions by their running marginal before the threshold, and stores the marginal in afterStep', () => {
    const batch = handBatch(4, 8);
    const maskRate = (distributionAlignment: boolean) => {
      // Momentum 0: p̃(y) is this batch's mean prediction. With a zero kernel every row is q = softmax(bias),
      // so p̃ = q and the aligned rows are uniform (1/4 < τ): alignment removes every pseudo-label.
      const runtime = buildRuntime({ threshold: 0.5, distributionAlignment, alignmentMomentum: 0 });
      const { classifier } = runtime.fixmatch.student;
      const [kernel] = classifier.getWeights();
      classifier.setWeights([tf.zerosLike(kernel), tf.tensor1d([2, 0.5, 0, -1])]);
      const context = stepContext(0);
      const rate = tf.tidy(() => {
        const output = runtime.step(batch, context);
        runtime.afterStep?.(batch, context, output.carry);
        return output.metrics!.maskRate.dataSync()[0];
      });
      const marginal = runtime.state?.modelMarginal?.dataSync();
      disposeRuntime(runtime);
      for (const v of Object.values(runtime.state ?? {})) v.dispose();
      return { rate, marginal };
    };
    expect(maskRate(false).rate).toBe(1);
    const aligned = maskRate(true);
    expect(aligned.rate).toBe(0);
    const q = tf.tidy(() => tf.softmax(tf.tensor1d([2, 0.5, 0, -1])).dataSync());
    Array.from(aligned.marginal!).forEach((v, c) => expect(v).toBeCloseTo(q[c], 5));
    tf.dispose([batch.labeled.images, batch.labeled.labels, ...batch.unlabeled.views]);
  });
});

describe('fixmatch EMA', () => {
  it('updates ema ← d·ema + (1 − d)·student with d = min(decay, (1 + t)/(10 + t))', () => {
    expect(fixMatchEmaDecay(0.999, 0, true)).toBeCloseTo(0.1, 12);
    expect(fixMatchEmaDecay(0.999, 20_000, true)).toBe(0.999);
    expect(fixMatchEmaDecay(0.99, 5, false)).toBe(0.99);
    for (const emaWarmup of [true, false]) {
      const runtime = buildRuntime({ emaDecay: 0.9, emaWarmup });
      const { student, ema } = runtime.fixmatch;
      // Move the student away from the EMA copy (they start equal).
      student.classifier.setWeights(student.classifier.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 1, 'float32', 10 + i)));
      const before = ema.classifier.getWeights().map((w) => w.arraySync());
      const source = student.classifier.getWeights().map((w) => w.arraySync());
      const t = 30;
      const decay = emaWarmup ? Math.min(0.9, 31 / 40) : 0.9;
      // The EMA copy is declared as momentum pairs; the trainer applies them after each optimizer step.
      const declared = runtime.momentumPairs;
      const expectedPairs = [
        [ema.encoder.model, student.encoder.model],
        [ema.classifier, student.classifier],
      ];
      expect(declared?.pairs).toHaveLength(2);
      declared?.pairs.forEach(({ target, source: online }, k) => {
        expect(target).toBe(expectedPairs[k][0]);
        expect(online).toBe(expectedPairs[k][1]);
      });
      expect(declared!.momentum(stepContext(t))).toBe(decay);
      for (const { target, source: online } of declared!.pairs) emaUpdate(target, online, decay);
      const after = ema.classifier.getWeights().map((w) => w.dataSync());
      after.forEach((values, i) => {
        const expected = (before[i] as number[] | number[][])
          .flat()
          .map((e, k) => decay * e + (1 - decay) * (source[i] as number[] | number[][]).flat()[k]);
        values.forEach((v, k) => expect(v).toBeCloseTo(expected[k], 5));
      });
      // The runtime's evaluation encoder is the EMA one.
      expect(runtime.encoder).toBe(ema.encoder);
      disposeRuntime(runtime);
    }
  });
});
