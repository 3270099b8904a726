import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, initBackend } from '@ssl/core';
import type { SemiSupervisedBatch } from '@ssl/core';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import { describeMethodContract, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import semisup, { fixMatchLoss, predictClasses, pseudoLabel, pseudoLabelWeight } from '../index';
import type { PseudoLabelConfig, SemisupRuntime } from '../index';

const SHAPE: [number, number, number] = [12, 12, 1];

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:pseudo-label',
  config: { unlabeledRatio: 3, rampStart: 0, rampEnd: 0.5 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 96 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 4,
  steps: 4,
  moreConfigs: [{ finalWeight: 0 }, { rampStart: 0, rampEnd: 0.5, threshold: 0.5, dropout: 0.3 }],
  invalidConfigs: [
    { config: { unlabeledRatio: 0 }, field: 'unlabeledRatio' },
    { config: { finalWeight: -1 }, field: 'finalWeight' },
    { config: { rampStart: 1.5 }, field: 'rampStart' },
    { config: { rampStart: 0.5, rampEnd: 0.4 }, field: 'rampEnd' },
    { config: { threshold: 2 }, field: 'threshold' },
    { config: { dropout: 1 }, field: 'dropout' },
  ],
  checkRun(result) {
    for (const record of result.history) {
      if (record.metrics.unlabeledWeight === undefined) continue; // the supervised-only ablation
      expect(record.metrics.unlabeledWeight).toBeCloseTo(
        pseudoLabelWeight(record.step / 4, { finalWeight: 3, rampStart: 0, rampEnd: 0.5 }),
        6,
      );
    }
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = predictClasses(result.runtime, images);
    expect(predictions.shape).toEqual([3]);
    tf.dispose([predictions, images]);
  },
});

describe('pseudo-label step', () => {
  it('adds α(t) times the cross-entropy of each unlabeled output against its own argmax (Lee eq. 15)', () => {
    const config: PseudoLabelConfig = { ...pseudoLabel.defaults, threshold: 0 };
    const runtime = pseudoLabel.build(
      testBuildContext({
        config,
        inputShape: SHAPE,
        numClasses: 4,
        rng: new Random(3),
        createEncoder: () => createEncoder({ kind: 'cnn', inputShape: SHAPE, channels: [4, 8], seed: 5 }),
      }),
    ) as SemisupRuntime;
    const images = (count: number, seed: number) => tf.randomUniform([count, ...SHAPE], 0, 1, 'float32', seed) as tf.Tensor4D;
    const labeled = images(4, 1);
    const unlabeled = images(8, 2);
    const batch: SemiSupervisedBatch = {
      kind: 'semi-supervised',
      labeled: { images: labeled, views: [labeled], indices: sampleIds(4), labels: tf.tensor1d([0, 1, 2, 3], 'int32') },
      unlabeled: { images: unlabeled, views: [unlabeled], indices: sampleIds(8, 4) },
    };
    // Inference-free network: batch norm in training mode sees [labeled; unlabeled], so compare with the same concatenation.
    const { student } = runtime.semisup;
    const progress = 0.35;
    const [loss, supervised, unlabeledLoss, weight, expected] = tf.tidy(() => {
      const output = runtime.step(batch, testStepContext({ step: 35, epoch: 0, totalSteps: 100, progress, rng: new Random(1), lr: 0.03 }));
      const all = student.classifier.apply(student.encoder.features(tf.concat([labeled, unlabeled]), { training: true })) as tf.Tensor2D;
      const own = fixMatchLoss({
        logitsWeak: all.slice([4, 0], [8, -1]) as tf.Tensor2D,
        logitsStrong: all.slice([4, 0], [8, -1]) as tf.Tensor2D,
        threshold: 0,
      });
      // CE(argmax p, p) = −log max p.
      const direct = tf.mean(tf.neg(tf.log(tf.max(tf.softmax(all.slice([4, 0], [8, -1])), 1))));
      expect(own.loss.dataSync()[0]).toBeCloseTo(direct.dataSync()[0], 5);
      return [output.loss, output.metrics!.supervisedLoss, output.metrics!.unlabeledLoss, output.metrics!.unlabeledWeight, direct].map(
        (t) => t.dataSync()[0],
      );
    });
    expect(weight).toBeCloseTo(pseudoLabelWeight(progress, config), 6);
    expect(unlabeledLoss).toBeCloseTo(expected, 4);
    expect(loss).toBeCloseTo(supervised + weight * unlabeledLoss, 4);
    tf.dispose([labeled, unlabeled, batch.labeled.labels]);
    for (const model of Object.values(runtime.trainable)) model.dispose();
  });
});

describe('pseudo-label on real data', () => {
  it(
    'learns on the Fashion-MNIST sample, 100 labels (its gain over supervised-only is not robust at this budget: see the README)',
    async () => {
      const result = await learningRun({
        method: 'semisup:pseudo-label',
        config: {},
        supervisedConfig: { finalWeight: 0 },
        ...CI_LEARNING,
      });
      console.log('pseudo-label learning run', JSON.stringify(result));
      // Measured (seed 0): 0.574 vs its ablation's 0.598; seeds 1 and 2: −10.7 and −4.1 points. With τ 0.95 and
      // α_f 1: +3.5 and −4.1 (seeds 0, 1). It does not beat supervised-only at this budget (README), so this
      // test checks only that it learns.
      expect(result.method).toBeGreaterThan(0.5);
      expect(result.supervised).toBeGreaterThan(0.5);
    },
    LEARNING_TIMEOUT,
  );
});
