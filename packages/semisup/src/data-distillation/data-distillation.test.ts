import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@ssl/core';
import { describeMethodContract } from '@ssl/test-utils';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import { NO_UNLABELED_VIEWS } from '../shared/classifier-network';
import { weakRandAugment } from '../views/weak-rand-augment';
import { dataDistillation } from './data-distillation';
import semisup, { distillationTransforms, ensemblePredictions, keptAnnotations, predictClasses, transformImages } from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

// 50 images, 1 label per class: 40 unlabeled; B 4, μ 3 gives 3 steps per epoch: round 0 (steps 0–2) trains
// on the labels, round 1 (steps 3–5) on labels + the annotations round 0's model generated. The resume
// test kills after step 4: mid round 1, with the annotation pool in the checkpoint.
describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:data-distillation',
  config: { rounds: 2, unlabeledRatio: 3 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 50 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 4,
  steps: 6,
  epochs: 1,
  moreConfigs: [
    { rounds: 2, unlabeledRatio: 3, scales: [1], flip: false, threshold: 0.15, student: 'continue', annotationWeight: 0.5 },
    { rounds: 2, unlabeledRatio: 3, annotationWeight: 0 },
    { rounds: 2, unlabeledRatio: 3, perClass: 2 },
    { rounds: 2, unlabeledRatio: 3, inputNoise: true, augment: { numOps: 1, magnitude: 5 } },
  ],
  invalidConfigs: [
    { config: { rounds: 0 }, field: 'rounds' },
    { config: { scales: [] }, field: 'scales' },
    { config: { scales: [1, -1] }, field: 'scales' },
    { config: { flip: 1 }, field: 'flip' },
    { config: { threshold: 1.5 }, field: 'threshold' },
    { config: { perClass: -1 }, field: 'perClass' },
    { config: { perClass: 1.5 }, field: 'perClass' },
    { config: { annotationWeight: -1 }, field: 'annotationWeight' },
    { config: { unlabeledRatio: 0 }, field: 'unlabeledRatio' },
    { config: { student: 'old' }, field: 'student' },
    { config: { dropout: -0.1 }, field: 'dropout' },
    { config: { inputNoise: 'yes' }, field: 'inputNoise' },
    { config: { augment: { numOps: 0 } }, field: 'augment.numOps' },
    { config: { augment: { magnitude: 11 } }, field: 'augment.magnitude' },
  ],
  checkRun(result) {
    // Round 0 has no annotations, so its steps are supervised only and log none.
    expect(result.history.slice(0, 3).every((r) => r.metrics.annotations === undefined)).toBe(true);
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = predictClasses(result.runtime, images);
    expect(predictions.shape).toEqual([3]);
    tf.dispose([predictions, images]);
  },
});

describe('data distillation blocks', () => {
  const values = Float32Array.from({ length: 2 * 6 * 6 }, (_, i) => (i * 7) % 11);
  const images = () => tf.tensor4d(values, [2, 6, 6, 1]);
  const pixel = (t: tf.Tensor4D) => {
    const data = t.arraySync();
    return (n: number, r: number, c: number) => data[n][r][c][0];
  };

  it('lists every scale without and with the mirror', () => {
    expect(distillationTransforms([0.9, 1], true)).toEqual([
      { scale: 0.9, flip: false },
      { scale: 0.9, flip: true },
      { scale: 1, flip: false },
      { scale: 1, flip: true },
    ]);
    expect(distillationTransforms([1], false)).toEqual([{ scale: 1, flip: false }]);
  });

  it('scale 1 is the identity, the flip mirrors columns, both keep the shape', () => {
    const x = images();
    const same = transformImages(x, { scale: 1, flip: false });
    expect(Array.from(same.dataSync())).toEqual(Array.from(values));
    const mirrored = pixel(transformImages(x, { scale: 1, flip: true }));
    const original = pixel(x);
    for (let n = 0; n < 2; n++)
      for (let r = 0; r < 6; r++) for (let c = 0; c < 6; c++) expect(mirrored(n, r, c)).toBe(original(n, r, 5 - c));
    tf.dispose([x, same]);
  });

  it('shrinking leaves a zero border around the resized image; zooming in keeps the centre crop', () => {
    const x = images();
    const small = transformImages(x, { scale: 0.5, flip: false });
    expect(small.shape).toEqual([2, 6, 6, 1]);
    const resized = tf.image.resizeBilinear(x, [3, 3]);
    const at = pixel(small);
    const inner = pixel(resized);
    for (let n = 0; n < 2; n++)
      for (let r = 0; r < 6; r++)
        for (let c = 0; c < 6; c++) {
          const inside = r >= 1 && r < 4 && c >= 1 && c < 4;
          expect(at(n, r, c)).toBeCloseTo(inside ? inner(n, r - 1, c - 1) : 0, 6);
        }
    const large = transformImages(x, { scale: 2, flip: false });
    const enlarged = pixel(tf.image.resizeBilinear(x, [12, 12]));
    const crop = pixel(large);
    for (let n = 0; n < 2; n++)
      for (let r = 0; r < 6; r++) for (let c = 0; c < 6; c++) expect(crop(n, r, c)).toBeCloseTo(enlarged(n, r + 3, c + 3), 6);
    tf.dispose([x, small, resized, large]);
  });

  // Ids 10..17, predicted classes and confidences; class 0 is the crowded one.
  const annotated = {
    ids: Int32Array.from([10, 11, 12, 13, 14, 15, 16, 17]),
    labels: Int32Array.from([0, 0, 1, 0, 2, 0, 1, 2]),
    confidences: Float32Array.from([0.95, 0.99, 0.5, 0.92, 0.97, 0.6, 0.91, 0.3]),
  };

  it('keeps every annotation over the threshold without a cap, and the most confident of each class with one', () => {
    const overThreshold = keptAnnotations(annotated, { threshold: 0.9, perClass: 0 }, 3);
    expect(Array.from(overThreshold.ids)).toEqual([10, 11, 13, 14, 16]);
    expect(Array.from(overThreshold.labels!)).toEqual([0, 0, 0, 2, 1]);
    // A plain loop: per class, sort by confidence (descending), keep the first two over 0.55, list by id.
    const reference: number[] = [];
    for (let c = 0; c < 3; c++) {
      const ofClass = [...annotated.ids.keys()].filter((i) => annotated.labels[i] === c && annotated.confidences[i] >= 0.55);
      ofClass.sort((a, b) => annotated.confidences[b] - annotated.confidences[a]);
      reference.push(...ofClass.slice(0, 2).map((i) => annotated.ids[i]));
    }
    const capped = keptAnnotations(annotated, { threshold: 0.55, perClass: 2 }, 3);
    expect(Array.from(capped.ids)).toEqual(reference.sort((a, b) => a - b));
    expect(Array.from(capped.ids)).toEqual([10, 11, 14, 16]);
    expect(Array.from(capped.labels!)).toEqual([0, 0, 2, 1]);
  });

  it("input noise gives every training image RandAugment, the ablation's labeled images too; without it the weak view", () => {
    const noised = { ...dataDistillation.defaults, inputNoise: true, augment: { numOps: 1, magnitude: 5 } };
    const views = dataDistillation.views(noised);
    const ablation = dataDistillation.views(dataDistillation.supervisedControl!(noised));
    expect(views.labeled).toEqual(weakRandAugment({ numOps: 1, magnitude: 5 }));
    expect(views.unlabeled).toEqual(views.labeled);
    expect(ablation.labeled).toEqual(views.labeled);
    expect(ablation.unlabeled).toEqual(NO_UNLABELED_VIEWS);
    expect(dataDistillation.views(dataDistillation.defaults)).toEqual({ labeled: 'weak', unlabeled: 'weak' });
  });

  it('the ensemble is the mean over transforms of the predictions, as a plain loop', () => {
    const x = images();
    // A stand-in model: softmax of [sum of the left half, sum of the right half, the centre pixel].
    const predict = (batch: tf.Tensor4D) =>
      tf.tidy(() => {
        const left = tf.sum(tf.slice(batch, [0, 0, 0, 0], [-1, -1, 3, -1]), [1, 2, 3]);
        const right = tf.sum(tf.slice(batch, [0, 0, 3, 0], [-1, -1, 3, -1]), [1, 2, 3]);
        const centre = tf.reshape(tf.slice(batch, [0, 2, 2, 0], [-1, 1, 1, -1]), [-1]);
        return tf.softmax(tf.div(tf.stack([left, right, centre], 1), 20)) as tf.Tensor2D;
      });
    const transforms = distillationTransforms([0.5, 1], true);
    const ensemble = ensemblePredictions(predict, x, transforms).arraySync();
    const expected = [
      [0, 0, 0],
      [0, 0, 0],
    ];
    for (const t of transforms) {
      const p = tf.tidy(() => predict(transformImages(x, t))).arraySync();
      for (let n = 0; n < 2; n++) for (let k = 0; k < 3; k++) expected[n][k] += p[n][k] / transforms.length;
    }
    for (let n = 0; n < 2; n++) for (let k = 0; k < 3; k++) expect(ensemble[n][k]).toBeCloseTo(expected[n][k], 6);
    x.dispose();
  });
});

describe('data distillation on real data', () => {
  it(
    'learns on the Fashion-MNIST sample, 100 labels, against the same rounds with no annotations',
    async () => {
      const result = await learningRun({
        method: 'semisup:data-distillation',
        config: { rounds: 2, threshold: 0.9 },
        supervisedConfig: { rounds: 2, annotationWeight: 0 },
        ...CI_LEARNING,
        epochs: 5,
        steps: 600,
      });
      console.log('data-distillation learning run', JSON.stringify(result));
      // Measured (2 rounds × 5 epochs × 56 steps at μ 1, fresh student, 6 transforms, τ 0.9): 0.659 vs
      // 0.647; seeds 1 and 2: 0.625 vs 0.594 and 0.636 vs 0.611. Annotating everything (τ 0) loses on seed 0
      // (0.578), as a ~60% model's labels are mostly what it already believes (README).
      expect(result.method).toBeGreaterThan(0.55);
      expect(result.method).toBeGreaterThan(result.supervised);
    },
    LEARNING_TIMEOUT,
  );
});
