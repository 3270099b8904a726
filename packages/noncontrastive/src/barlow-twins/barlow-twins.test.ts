import * as tf from '@tensorflow/tfjs-core';
import { Random, createEncoder, createRegistry, initBackend } from '@ssl/core';
import type { CnnSpec, StepContext, UnlabeledBatch } from '@ssl/core';
import {
  describeLearningRun,
  describeMethodContract,
  disposeTestRuntime,
  learningRun,
  sampleIds,
  testBuildContext,
  testStepContext,
} from '@ssl/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import noncontrastive, { barlowTwins, barlowTwinsLoss } from '../index';
import type { BarlowTwinsConfig } from '../index';

// Single-threaded wasm: bit-exact reruns for the method contract's determinism and resume tests.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
}, 60_000);

const registry = () => createRegistry().use(noncontrastive());
const tinyEncoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 11 };
const tinyConfig = { projectionHiddenDim: 32, projectionDim: 16 };

describeMethodContract({
  plugin: noncontrastive,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'noncontrastive:barlow-twins',
  config: tinyConfig,
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: tinyEncoder,
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { lambda: -1 }, field: 'lambda' },
    { config: { projectionDim: 0 }, field: 'projectionDim' },
    { config: { projectionHiddenDim: 1.5 }, field: 'projectionHiddenDim' },
    { config: { projectionLayers: 1 }, field: 'projectionLayers' },
    { config: { views: { cropScale: [0, 2] } }, field: 'views.cropScale' },
  ],
  moreConfigs: [{ ...tinyConfig, projectionLayers: 2, lambda: 0.05 }],
  checkRun(result) {
    for (const record of result.history) {
      expect(record.loss).toBeGreaterThanOrEqual(0);
      expect(record.metrics.projectionStd).toBeGreaterThan(0);
      expect(record.metrics.featureStd).toBeGreaterThan(0);
      // Effective rank (participation ratio) of the features: above 1, no dimensional collapse.
      expect(record.metrics.featureRank).toBeGreaterThan(1);
    }
  },
});

describe('noncontrastive:barlow-twins', () => {
  it('has the paper and typed defaults (λ = 5e-3)', () => {
    const handle = registry().create('noncontrastive:barlow-twins');
    expect(handle.config.lambda).toBe(5e-3);
    expect(barlowTwins.paper?.url).toContain('2103.03230');
  });

  it('is barlowTwinsLoss of the two views’ projections, each forwarded on its own', () => {
    let encoderSeed = 100;
    const config: BarlowTwinsConfig = { ...barlowTwins.defaults, ...tinyConfig, lambda: 0.02 };
    const runtime = barlowTwins.build(
      testBuildContext<BarlowTwinsConfig>({
        config,
        inputShape: [28, 28, 1],
        rng: new Random(9),
        createEncoder: () => createEncoder({ ...tinyEncoder, seed: encoderSeed++ }),
      }),
    );
    const view = (seed: number) => tf.randomUniform([8, 28, 28, 1], 0, 1, 'float32', seed) as tf.Tensor4D;
    const batch: UnlabeledBatch = { kind: 'unlabeled', images: view(1), indices: sampleIds(8), views: [view(2), view(3)] };
    const context: StepContext = testStepContext({ step: 0, epoch: 0, totalSteps: 1, progress: 0, rng: new Random(1), lr: 0.1 });
    const [fromStep, expected] = tf.tidy(() => {
      const { loss } = runtime.step(batch, context);
      const project = (x: tf.Tensor4D) =>
        runtime.trainable.projector.apply(runtime.encoder.features(x, { training: true }), { training: true }) as tf.Tensor2D;
      return [loss.dataSync()[0], barlowTwinsLoss(project(batch.views[0]), project(batch.views[1]), { lambda: 0.02 }).dataSync()[0]];
    });
    expect(fromStep).toBeCloseTo(expected, 3);
    tf.dispose([batch.images, ...batch.views]);
    disposeTestRuntime(runtime);
  });

  // CI-sized run on the committed 3000-image sample (learningRun from @ssl/test-utils): weighted kNN
  // (k = 200) of the trained CNN 16-32-64 against the same CNN at random init. Measured with the defaults
  // (Adam lr 2e-3, batch 64), 3 epochs: 64.2 → 66.1 % (+1.9 points; batch 128 at lr 1e-3 gave +0.0, README).
  it('learns: kNN beats the same encoder at random init, with healthy collapse diagnostics', async () => {
    const run = await learningRun({ method: registry().create('noncontrastive:barlow-twins'), epochs: LEARNING_EPOCHS, batchSize: 64 });
    console.info(describeLearningRun('barlow-twins', run));
    expect(run.lastMetrics.projectionStd).toBeGreaterThan(0.5);
    expect(run.lastMetrics.featureStd).toBeGreaterThan(0.3);
    expect(run.trained).toBeGreaterThan(run.randomInit + LEARNING_MARGIN);
  }, 600_000);
});

/** Chosen from the measured run (+1.9 points with this seed): a gain of at least 0.5 points is required. */
const LEARNING_EPOCHS = 3;
const LEARNING_MARGIN = 0.005;
