import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, initBackend } from '@ssl/core';
import type { SemiSupervisedBatch } from '@ssl/core';
import { describeMethodContract, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import { CI_LEARNING, LEARNING_TIMEOUT, learningRun } from '../testing/learning-run';
import semisup, { entropyLoss, klDivergence, predictClasses, vat, virtualAdversarialPerturbation } from '../index';
import type { SemisupRuntime, VatConfig } from '../index';

const SHAPE: [number, number, number] = [12, 12, 1];

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describeMethodContract({
  plugin: semisup,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'semisup:vat',
  config: { unlabeledRatio: 2 },
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 96 }, labeledPerClass: 1 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 4,
  steps: 4,
  moreConfigs: [{ unlabeledRatio: 2, entropyWeight: 1, powerIterations: 2 }, { vatWeight: 0 }],
  invalidConfigs: [
    { config: { vatWeight: -1 }, field: 'vatWeight' },
    { config: { epsilon: 0 }, field: 'epsilon' },
    { config: { xi: -1e-6 }, field: 'xi' },
    { config: { powerIterations: 0 }, field: 'powerIterations' },
    { config: { entropyWeight: -1 }, field: 'entropyWeight' },
  ],
  checkRun(result) {
    const images = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const predictions = predictClasses(result.runtime, images);
    expect(predictions.shape).toEqual([3]);
    tf.dispose([predictions, images]);
  },
});

describe('vat step', () => {
  it('is ℓ_s + α · KL(p ‖ f(x + r_vadv)) (+ entropy for VAT+EntMin), r_vadv from the step generator', () => {
    const config: VatConfig = { ...vat.defaults, vatWeight: 0.7, entropyWeight: 0.3, epsilon: 1.5 };
    let seed = 1;
    const runtime = vat.build(
      testBuildContext<VatConfig>({
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
    const view = images(6, 2);
    const labels = tf.tensor1d([0, 1, 2, 3], 'int32');
    const batch: SemiSupervisedBatch = {
      kind: 'semi-supervised',
      labeled: { images: labeled, views: [labeled], indices: sampleIds(4), labels },
      unlabeled: { images: view, views: [view], indices: sampleIds(6, 4) },
    };
    const context = () => testStepContext({ step: 0, epoch: 0, totalSteps: 10, progress: 0, rng: new Random(11), lr: 0.03 });
    const [loss, vatLoss, entropy, expectedVat, expectedEntropy, supervised] = tf.tidy(() => {
      const output = runtime.step(batch, context());
      const forward = (x: tf.Tensor4D) => student.classifier.apply(student.encoder.features(x, { training: true })) as tf.Tensor2D;
      const unlabeledLogits = forward(tf.concat([labeled, view])).slice([4, 0], [6, -1]) as tf.Tensor2D;
      const target = tf.softmax(unlabeledLogits) as tf.Tensor2D;
      const noise = tf.randomNormal(view.shape, 0, 1, 'float32', context().rng.seed()) as tf.Tensor4D;
      const r = virtualAdversarialPerturbation(forward, view, target, { xi: config.xi, epsilon: 1.5, iterations: 1, noise });
      return [
        output.loss,
        output.metrics!.vatLoss,
        output.metrics!.entropy,
        klDivergence(target, forward(tf.add(view, r) as tf.Tensor4D)),
        entropyLoss(unlabeledLogits),
        output.metrics!.supervisedLoss,
      ].map((t) => t.dataSync()[0]);
    });
    expect(vatLoss).toBeCloseTo(expectedVat, 5);
    expect(vatLoss).toBeGreaterThan(1e-5);
    expect(entropy).toBeCloseTo(expectedEntropy, 5);
    expect(loss).toBeCloseTo(supervised + 0.7 * vatLoss + 0.3 * entropy, 5);
    tf.dispose([labeled, view, labels]);
    for (const model of Object.values(runtime.trainable)) model.dispose();
  });
});

describe('vat learns from unlabeled images', () => {
  it(
    'learns on the Fashion-MNIST sample, 100 labels, 300 steps (it does not reliably beat supervised-only at this budget)',
    async () => {
      const result = await learningRun({
        method: 'semisup:vat',
        config: {},
        supervisedConfig: { vatWeight: 0 },
        ...CI_LEARNING,
      });
      console.log('vat learning run', JSON.stringify(result));
      // Measured: 0.638 vs the ablation's 0.598 on seed 0 (+4.0), but −3.5 and −0.2 on seeds 1 and 2, and
      // VAT+EntMin +0.3 / −6.1 / −6.9 (README). Mixed over seeds, so this test checks only that it learns.
      expect(result.method).toBeGreaterThan(0.5);
      expect(result.supervised).toBeGreaterThan(0.5);
    },
    LEARNING_TIMEOUT,
  );
});
