import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, SslError, createEncoder, createRegistry, gatherBatch, imageDataset, initBackend, labeledSplit, loadFashionMnist, train } from '@ssl/core';
import type { BuildContext, ImageDataset, SemiSupervisedBatch, StepContext } from '@ssl/core';
import semisup, { classify, fixMatchEmaDecay, fixmatch } from '../index';
import type { FixMatchConfig, FixMatchRuntime } from '../index';

const SHAPE: [number, number, number] = [12, 12, 1];
const tinyEncoder = { kind: 'cnn', inputShape: SHAPE, channels: [4, 8] } as const;

beforeAll(async () => {
  await initBackend({ log: () => {} });
});

/** 12×12 images with a bright square at a class-dependent corner (4 classes). */
function toyImages(size: number, seed: number): ImageDataset {
  const rng = new Random(seed);
  const images = new Uint8Array(size * 144);
  const labels = new Int32Array(size);
  for (let n = 0; n < size; n++) {
    const label = n % 4;
    labels[n] = label;
    for (let i = 0; i < 144; i++) images[n * 144 + i] = rng.int(60);
    const [oy, ox] = [[1, 1], [1, 6], [6, 1], [6, 6]][label];
    for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) images[n * 144 + (oy + y) * 12 + ox + x] = 200 + rng.int(55);
  }
  return imageDataset({ images, shape: SHAPE, labels, name: 'toy' });
}

function buildRuntime(overrides: Partial<FixMatchConfig> = {}, numClasses = 4): FixMatchRuntime {
  const config = { ...fixmatch.defaults, ...overrides };
  fixmatch.validate?.(config);
  let seed = 1;
  const context: BuildContext<FixMatchConfig> = {
    config,
    inputShape: SHAPE,
    numClasses,
    rng: new Random(3),
    createEncoder: () => createEncoder({ ...tinyEncoder, seed: seed++ }),
  };
  return fixmatch.build(context) as FixMatchRuntime;
}

function handBatch(labeled: number, unlabeled: number): SemiSupervisedBatch {
  const images = (n: number, seed: number) => tf.randomUniform([n, ...SHAPE], 0, 1, 'float32', seed) as tf.Tensor4D;
  const labeledImages = images(labeled, 1);
  const weak = images(unlabeled, 2);
  return {
    kind: 'semi-supervised',
    labeled: { images: labeledImages, views: [labeledImages], labels: tf.tensor1d(Array.from({ length: labeled }, (_, i) => i % 4), 'int32') },
    unlabeled: { images: weak, views: [weak, images(unlabeled, 3)] },
  };
}

const stepContext = (step: number): StepContext => ({ step, epoch: 0, totalSteps: 100, progress: step / 100, rng: new Random(step), lr: 0.03 });

function disposeRuntime(runtime: FixMatchRuntime): void {
  for (const model of [...Object.values(runtime.trainable), ...Object.values(runtime.frozen ?? {})]) model.dispose();
}

describe('fixmatch config', () => {
  it('rejects bad values naming the field', () => {
    const registry = createRegistry().use(semisup());
    const cases: Array<[Partial<FixMatchConfig>, string]> = [
      [{ threshold: 1.5 }, 'threshold'],
      [{ threshold: -0.1 }, 'threshold'],
      [{ unlabeledRatio: 0 }, 'unlabeledRatio'],
      [{ unlabeledRatio: 2.5 }, 'unlabeledRatio'],
      [{ unlabeledWeight: -1 }, 'unlabeledWeight'],
      [{ emaDecay: 1 }, 'emaDecay'],
      [{ augment: { cutoutSize: 2 } }, 'augment.cutoutSize'],
    ];
    for (const [config, field] of cases) {
      let error: unknown;
      try {
        registry.create('semisup:fixmatch', config);
      } catch (e) {
        error = e;
      }
      expect(error, field).toBeInstanceOf(SslError);
      expect((error as SslError).code).toBe('invalid-config');
      expect((error as SslError).message).toContain(field);
    }
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
      runtime.afterStep?.(handBatch(1, 1), stepContext(t));
      const after = ema.classifier.getWeights().map((w) => w.dataSync());
      after.forEach((values, i) => {
        const expected = (before[i] as number[] | number[][]).flat().map((e, k) => decay * e + (1 - decay) * (source[i] as number[] | number[][]).flat()[k]);
        values.forEach((v, k) => expect(v).toBeCloseTo(expected[k], 5));
      });
      // The runtime's evaluation encoder is the EMA one.
      expect(runtime.encoder).toBe(ema.encoder);
      disposeRuntime(runtime);
    }
  });
});

describe('fixmatch training', () => {
  it('runs leak-free with finite losses, and the same seed gives the same loss curve', async () => {
    const data = labeledSplit(toyImages(96, 2), { perClass: 4, seed: 1 });
    const run = async () => {
      const counts: number[] = [];
      const result = await train({
        method: createRegistry().use(semisup()).create('semisup:fixmatch', { unlabeledRatio: 3, threshold: 0.5 }),
        data,
        encoder: tinyEncoder,
        maxSteps: 4,
        epochs: 4,
        batchSize: 4,
        seed: 11,
        callbacks: [{ name: 'count', onStepEnd: () => void counts.push(tf.memory().numTensors) }],
      });
      const losses = result.history.map((r) => r.loss);
      const maskRates = result.history.map((r) => r.metrics.maskRate);
      const images = gatherBatch(data.labeled, [0, 1, 2, 3]);
      const predictions = classify(result.runtime, images.images);
      expect(predictions.shape).toEqual([4]);
      expect(predictions.dtype).toBe('int32');
      tf.dispose([predictions, images.images, images.labels as tf.Tensor]);
      result.dispose();
      return { losses, maskRates, counts };
    };
    const first = await run();
    const second = await run();
    expect(first.losses.every(Number.isFinite)).toBe(true);
    expect(first.maskRates.every((m) => m >= 0 && m <= 1)).toBe(true);
    expect(new Set(first.counts.slice(1)).size).toBe(1); // no tensor leaks from step 2 on
    expect(second.losses).toEqual(first.losses);
  });
});
