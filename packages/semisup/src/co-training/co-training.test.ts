import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@ssl/core';
import { describeMethodContract } from '@ssl/test-utils';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import semisup, { combineViews, exchangeLabels, featureSplitMasks, predictClasses } from '../index';
import type { PseudoLabels } from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

// 50 images, 1 label per class: 40 unlabeled; B 4, μ 3 gives 3 steps per epoch, so the 6-step run is round 0
// (steps 0–2) and round 1 (steps 3–5), which trains on what round 0's learners taught each other. The
// resume test kills after step 4: mid round 1, with the taught pools in the checkpoint.
describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:co-training',
  config: { rounds: 2, perClass: 2 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 50 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 4,
  steps: 6,
  epochs: 1,
  moreConfigs: [
    { rounds: 2, perClass: 1, split: 'left-right', learners: 'continue', dropout: 0.2 },
    { rounds: 2, perClass: 0 },
  ],
  invalidConfigs: [
    { config: { rounds: 0 }, field: 'rounds' },
    { config: { split: 'diagonal' }, field: 'split' },
    { config: { perClass: -1 }, field: 'perClass' },
    { config: { perClass: 1.5 }, field: 'perClass' },
    { config: { threshold: 2 }, field: 'threshold' },
    { config: { unlabeledRatio: 0 }, field: 'unlabeledRatio' },
    { config: { learners: 'old' }, field: 'learners' },
    { config: { dropout: 1 }, field: 'dropout' },
  ],
  checkRun(result) {
    const taught = result.history.map((r) => [r.metrics.firstViewTaught, r.metrics.secondViewTaught]);
    // Round 0 trains on the 10 labels only; round 1 each learner has been taught by the other.
    expect(taught.slice(0, 3)).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    // Each learner teaches at most k = 2 per class of 10; the taught pools stay fixed through round 1.
    expect(taught.slice(3)).toEqual([taught[3], taught[3], taught[3]]);
    expect(Math.max(...taught[3])).toBeLessThanOrEqual(20);
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = predictClasses(result.runtime, images);
    expect(predictions.shape).toEqual([3]);
    expect(() => predictClasses(result.runtime, images, { model: 'student' })).toThrow(/model/);
    tf.dispose([predictions, images]);
  },
});

describe('co-training blocks', () => {
  it('feature split masks are complementary halves', () => {
    for (const [split, h, w] of [
      ['top-bottom', 5, 4],
      ['left-right', 4, 5],
    ] as const) {
      const [first, second] = featureSplitMasks(split, h, w);
      const a = first.arraySync()[0].map((row) => row.map((c) => c[0]));
      const b = second.arraySync()[0].map((row) => row.map((c) => c[0]));
      for (let r = 0; r < h; r++)
        for (let c = 0; c < w; c++) {
          const inFirst = split === 'top-bottom' ? r < 3 : c < 3;
          expect([a[r][c], b[r][c]]).toEqual(inFirst ? [1, 0] : [0, 1]);
        }
      tf.dispose([first, second]);
    }
  });

  it('the combined prediction is the normalised product of the two softmaxes', () => {
    const first = tf.tensor2d([[1, 2, 0.5]]);
    const second = tf.tensor2d([[0.3, -1, 2]]);
    const combined = combineViews(first, second).dataSync();
    const p = tf.softmax(first).dataSync();
    const q = tf.softmax(second).dataSync();
    const product = Array.from(p, (v, k) => v * q[k]);
    const total = product.reduce((s, v) => s + v, 0);
    product.forEach((v, k) => expect(combined[k]).toBeCloseTo(v / total, 6));
    tf.dispose([first, second]);
  });

  it('each learner teaches the other its k most confident per class among samples neither was taught; earlier teachings stay', () => {
    const ids = Int32Array.from([10, 11, 12, 13, 14, 15]);
    const first: PseudoLabels = {
      ids,
      labels: Int32Array.from([0, 0, 1, 1, 0, 1]),
      confidences: Float32Array.from([0.9, 0.8, 0.7, 0.95, 0.1, 0.2]),
    };
    const second: PseudoLabels = {
      ids,
      labels: Int32Array.from([1, 0, 1, 0, 0, 1]),
      confidences: Float32Array.from([0.5, 0.6, 0.99, 0.4, 0.3, 0.2]),
    };
    const empty = { ids: new Int32Array(0), labels: new Int32Array(0) };
    const [toFirst, toSecond] = exchangeLabels([empty, empty], [first, second], 1, 0, 2);
    // Learner 1's picks (10 as class 0, 13 as class 1) go to learner 2; learner 2's (11 as 0, 12 as 1) to learner 1.
    expect([Array.from(toSecond.ids), Array.from(toSecond.labels!)]).toEqual([
      [10, 13],
      [0, 1],
    ]);
    expect([Array.from(toFirst.ids), Array.from(toFirst.labels!)]).toEqual([
      [11, 12],
      [0, 1],
    ]);
    // Next round: taught samples are no longer candidates for either learner.
    const [again1, again2] = exchangeLabels([toFirst, toSecond], [first, second], 1, 0, 2);
    expect(Array.from(again2.ids)).toEqual([10, 13, 14, 15]);
    expect(Array.from(again1.ids)).toEqual([11, 12, 14, 15]);
    expect(Array.from(again1.labels!)).toEqual([0, 1, 0, 1]);
    // The threshold and k = 0.
    expect(Array.from(exchangeLabels([empty, empty], [first, second], 1, 0.92, 2)[1].ids)).toEqual([13]);
    expect(exchangeLabels([empty, empty], [first, second], 0, 0, 2)[0].ids).toHaveLength(0);
  });
});

describe('co-training on real data', () => {
  it(
    'learns on the Fashion-MNIST sample, 100 labels, against the same two learners with nothing taught',
    async () => {
      const result = await learningRun({
        method: 'semisup:co-training',
        config: { rounds: 2, perClass: 20, threshold: 0.9, learners: 'continue' },
        supervisedConfig: { rounds: 2, perClass: 0, learners: 'continue' },
        ...CI_LEARNING,
        epochs: 8,
        steps: 600,
      });
      console.log('co-training learning run', JSON.stringify(result));
      // Measured (2 rounds × 8 epochs = 2 × 144 steps, k 20 per class, τ 0.9, learners continued): 0.640 vs
      // 0.616; seeds 1 and 2: 0.676 vs 0.687 and 0.693 vs 0.666 (README). Fresh learners each round lose here
      // (0.459 vs 0.517 with 3 rounds of 90 steps).
      expect(result.method).toBeGreaterThan(0.6);
      expect(result.method).toBeGreaterThan(result.supervised);
    },
    LEARNING_TIMEOUT,
  );
});
