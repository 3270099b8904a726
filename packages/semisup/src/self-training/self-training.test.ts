import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@ssl/core';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import { describeMethodContract } from '@ssl/test-utils';
import semisup, { nextLabeledPool, predictClasses, selfTraining, topKPerClass } from '../index';
import type { PseudoLabels, SelfTrainingConfig } from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

// 50 images (the first with every class), 1 label per class: 40 unlabeled; B 12 gives 3 steps per epoch, so
// with 1 epoch per round the 6-step run is round 0 (steps 0–2) and round 1 (steps 3–5). The resume test
// kills after step 4 and resumes from the checkpoint at step 4: mid round 1, with the pools round 0 chose.
describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:self-training',
  config: { rounds: 2, perClass: 2 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 50 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 12,
  steps: 6,
  epochs: 1,
  moreConfigs: [
    { rounds: 2, selection: 'weighted', student: 'continue' },
    { rounds: 2, selection: 'all' },
  ],
  invalidConfigs: [
    { config: { rounds: 0 }, field: 'rounds' },
    { config: { selection: 'some' }, field: 'selection' },
    { config: { perClass: 0 }, field: 'perClass' },
    { config: { threshold: 1.1 }, field: 'threshold' },
    { config: { student: 'old' }, field: 'student' },
    { config: { dropout: 1 }, field: 'dropout' },
  ],
  checkRun(result) {
    const sizes = result.history.map((r) => r.metrics.labeledPoolSize);
    // Round 0 trains on the 10 labels; round 1 on the labels plus the pseudo-labels round 0 chose.
    expect(sizes.slice(0, 3)).toEqual([10, 10, 10]);
    expect(sizes[3]).toBeGreaterThan(10);
    expect(sizes.slice(3)).toEqual([sizes[3], sizes[3], sizes[3]]);
    expect(sizes[3]).toBeLessThanOrEqual(10 + 40);
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = predictClasses(result.runtime, images);
    expect(predictions.shape).toEqual([3]);
    tf.dispose([predictions, images]);
  },
});

const predictions: PseudoLabels = {
  ids: Int32Array.from([10, 11, 12, 13, 14, 15]),
  labels: Int32Array.from([0, 0, 0, 1, 1, 2]),
  confidences: Float32Array.from([0.9, 0.5, 0.95, 0.6, 0.6, 0.3]),
};
const given = { ids: Int32Array.from([0, 1, 2]), labels: Int32Array.from([0, 1, 2]) };
const unlabeledIds = predictions.ids;
const config = (overrides: Partial<SelfTrainingConfig>): SelfTrainingConfig => ({ ...selfTraining.defaults, ...overrides });

describe('self-training pool selection', () => {
  it('top-k: the k most confident of each predicted class, ties by smaller id, above the threshold', () => {
    const chosen = topKPerClass(predictions, 2, 0, 3);
    expect(Array.from(chosen.ids)).toEqual([10, 12, 13, 14, 15]);
    expect(Array.from(topKPerClass(predictions, 1, 0, 3).ids)).toEqual([12, 13, 15]); // 13 and 14 tie at 0.6: 13
    expect(Array.from(topKPerClass(predictions, 2, 0.55, 3).ids)).toEqual([10, 12, 13, 14]);
  });

  it('top-k keeps earlier pseudo-labels as they were and adds k new ones per class', () => {
    const round1 = nextLabeledPool(given, unlabeledIds, predictions, config({ selection: 'top-k', perClass: 1 }), 3);
    expect(Array.from(round1.ids)).toEqual([0, 1, 2, 12, 13, 15]);
    expect(Array.from(round1.labels!)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(round1.weights).toBeUndefined();
    // The next teacher changes its mind about sample 12: the earlier pseudo-label stays (early mistakes persist).
    const relabeled: PseudoLabels = { ...predictions, labels: Int32Array.from([0, 0, 2, 1, 1, 2]) };
    const round2 = nextLabeledPool(round1, unlabeledIds, relabeled, config({ selection: 'top-k', perClass: 1 }), 3);
    expect(Array.from(round2.ids)).toEqual([0, 1, 2, 12, 13, 15, 10, 14]);
    expect(Array.from(round2.labels!)).toEqual([0, 1, 2, 0, 1, 2, 0, 1]);
  });

  it('all: every unlabeled sample with its newest pseudo-label; none: the given labels only; weighted: confidences as weights, labels weigh 1', () => {
    const all = nextLabeledPool(given, unlabeledIds, predictions, config({ selection: 'all' }), 3);
    expect(Array.from(all.ids)).toEqual([0, 1, 2, 10, 11, 12, 13, 14, 15]);
    expect(Array.from(all.labels!)).toEqual([0, 1, 2, 0, 0, 0, 1, 1, 2]);
    const relabeled: PseudoLabels = { ...predictions, labels: Int32Array.from([1, 1, 1, 1, 1, 1]) };
    expect(Array.from(nextLabeledPool(all, unlabeledIds, relabeled, config({ selection: 'all' }), 3).labels!)).toEqual([
      0, 1, 2, 1, 1, 1, 1, 1, 1,
    ]);
    const none = nextLabeledPool(all, unlabeledIds, predictions, config({ selection: 'none' }), 3);
    expect(Array.from(none.ids)).toEqual([0, 1, 2]);
    const weighted = nextLabeledPool(given, unlabeledIds, predictions, config({ selection: 'weighted', threshold: 0.5 }), 3);
    expect(Array.from(weighted.ids)).toEqual([0, 1, 2, 10, 11, 12, 13, 14]);
    expect(Array.from(weighted.weights!)).toEqual(Array.from(Float32Array.from([1, 1, 1, 0.9, 0.5, 0.95, 0.6, 0.6])));
  });
});

describe('self-training on real data', () => {
  it(
    'learns on the Fashion-MNIST sample, 100 labels (its gain over supervised-only is not robust at this budget: see the README)',
    async () => {
      const result = await learningRun({
        method: 'semisup:self-training',
        config: { rounds: 2, perClass: 10 },
        supervisedConfig: { rounds: 2, selection: 'none' },
        ...CI_LEARNING,
        epochs: 5,
        steps: 600,
      });
      console.log('self-training learning run', JSON.stringify(result));
      // Measured (seed 0, 2 rounds of 5 epochs = 280 steps, fresh students, top-10 per class): 0.589 vs
      // 0.647 for the same rounds on labels only; seeds 1 and 2: +4.2 and +0.3. Not a robust gain at this
      // budget (README), so this test checks only that it learns.
      expect(result.method).toBeGreaterThan(0.5);
      expect(result.supervised).toBeGreaterThan(0.5);
    },
    LEARNING_TIMEOUT,
  );
});
