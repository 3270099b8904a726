import * as tf from '@tensorflow/tfjs-core';
import { Random, createEncoder, createRegistry, initBackend, l2Normalize } from '@ssl/core';
import type { CnnSpec, MethodRuntime, StepContext, UnlabeledBatch } from '@ssl/core';
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
import noncontrastive, { swav, swavLoss } from '../index';
import type { SwAVCarry, SwAVConfig } from '../index';

// Single-threaded wasm: bit-exact reruns for the method contract's determinism and resume tests.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
}, 60_000);

const registry = () => createRegistry().use(noncontrastive());
const tinyEncoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 11 };
const tinyConfig = { projectionHiddenDim: 32, projectionDim: 16, numPrototypes: 12, views: { localCrops: 2 } };

function buildRuntime(config: SwAVConfig): MethodRuntime<'unlabeled', SwAVCarry> {
  let encoderSeed = 100;
  return swav.build(
    testBuildContext<SwAVConfig>({
      config,
      inputShape: [28, 28, 1],
      rng: new Random(9),
      createEncoder: () => createEncoder({ ...tinyEncoder, seed: encoderSeed++ }),
    }),
  );
}

/** Two 28×28 high-resolution crops and `locals` 12×12 crops, as the multiCrop policy makes them. */
function multiCropBatch(size: number, seed: number, locals = 4): UnlabeledBatch {
  const crop = (s: number, side: number) => tf.randomUniform([size, side, side, 1], 0, 1, 'float32', s) as tf.Tensor4D;
  return {
    kind: 'unlabeled',
    images: crop(seed, 28),
    indices: sampleIds(size),
    views: [crop(seed + 1, 28), crop(seed + 2, 28), ...Array.from({ length: locals }, (_, k) => crop(seed + 3 + k, 12))],
  };
}

const context = (epoch: number, progress = 0.5): StepContext =>
  testStepContext({ step: 0, epoch, totalSteps: 10, progress, rng: new Random(1), lr: 0.1 });

/** [K, d] prototypes of a runtime: the kernel of its prototype layer, transposed. */
const prototypeRows = (runtime: MethodRuntime<'unlabeled', SwAVCarry>) =>
  tf.transpose(runtime.trainable.prototypes.trainableWeights[0].read()) as tf.Tensor2D;

/** The step's scores, recomputed: each resolution's crops as one encoder batch, the projector on all crops, z/‖z‖ · Cᵀ. */
function referenceScores(runtime: MethodRuntime<'unlabeled', SwAVCarry>, views: tf.Tensor4D[]): tf.Tensor2D[] {
  const encode = (x: tf.Tensor4D[]) => runtime.encoder.features(tf.concat(x, 0), { training: true });
  const features = tf.concat([encode(views.slice(0, 2)), encode(views.slice(2))], 0);
  const z = l2Normalize(runtime.trainable.projector.apply(features, { training: true }) as tf.Tensor2D);
  const scores = tf.matMul(z, prototypeRows(runtime), false, true);
  const batch = views[0].shape[0];
  return views.map((_, v) => tf.slice(scores, [v * batch, 0], [batch, -1]) as tf.Tensor2D);
}

describeMethodContract({
  plugin: noncontrastive,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'noncontrastive:swav',
  config: tinyConfig,
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: tinyEncoder,
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { numPrototypes: 0 }, field: 'numPrototypes' },
    { config: { projectionDim: 1.5 }, field: 'projectionDim' },
    { config: { temperature: 0 }, field: 'temperature' },
    { config: { epsilon: -0.05 }, field: 'epsilon' },
    { config: { sinkhornIterations: 0 }, field: 'sinkhornIterations' },
    { config: { freezePrototypesEpochs: -1 }, field: 'freezePrototypesEpochs' },
    { config: { queueLength: 2.5 }, field: 'queueLength' },
    { config: { queueStartEpoch: -1 }, field: 'queueStartEpoch' },
    { config: { views: { globalCrops: 1, localCrops: 0 } }, field: 'views.localCrops' },
    { config: { views: { localScale: [0, 3] } }, field: 'views.localScale' },
  ],
  // The queue (filled after two steps of 16, used from then on), no frozen epoch, no local crops.
  moreConfigs: [
    { ...tinyConfig, queueLength: 32, queueStartEpoch: 0, freezePrototypesEpochs: 0 },
    { ...tinyConfig, views: { localCrops: 0 } },
  ],
  checkRun(result) {
    for (const record of result.history) {
      // A cross-entropy against codes over K prototypes: ≥ 0.
      expect(record.loss).toBeGreaterThanOrEqual(0);
      expect(record.metrics.prototypeUsage).toBeGreaterThan(0);
      expect(record.metrics.prototypeUsage).toBeLessThanOrEqual(1);
      // Effective rank (participation ratio) of the features: above 1, no dimensional collapse.
      expect(record.metrics.featureRank).toBeGreaterThan(1);
    }
    // The prototypes are unit vectors after every step.
    const norms = tf.tidy(() => tf.norm(result.runtime.trainable.prototypes.trainableWeights[0].read(), 'euclidean', 0).dataSync());
    for (const norm of norms) expect(norm).toBeCloseTo(1, 5);
  },
});

describe('noncontrastive:swav', () => {
  it('has the paper and typed defaults (τ 0.1, ε 0.05, 3 Sinkhorn iterations, 2 + 6 crops)', () => {
    const handle = registry().create('noncontrastive:swav');
    expect([handle.config.temperature, handle.config.epsilon, handle.config.sinkhornIterations]).toEqual([0.1, 0.05, 3]);
    expect([handle.config.views.globalCrops, handle.config.views.localCrops]).toEqual([2, 6]);
    expect(handle.config.freezePrototypesEpochs).toBe(1);
    expect(swav.paper?.url).toContain('2006.09882');
  });

  it('is swavLoss of the high-resolution crops’ codes predicted by every other crop, all crops through one encoder', () => {
    const runtime = buildRuntime({ ...swav.defaults, ...tinyConfig, temperature: 0.2, epsilon: 0.1, sinkhornIterations: 2 });
    const batch = multiCropBatch(8, 1);
    tf.tidy(() => {
      const out = runtime.step(batch, context(1));
      const scores = referenceScores(runtime, batch.views);
      const expected = swavLoss(scores.slice(0, 2), scores.slice(2), { temperature: 0.2, epsilon: 0.1, iterations: 2 });
      expect(out.loss.dataSync()[0]).toBeCloseTo(expected.dataSync()[0], 4);
      // The carry holds the two high-resolution crops' unit embeddings, for the queue.
      expect(out.carry?.embeddings.map((z) => z.shape)).toEqual([
        [8, 16],
        [8, 16],
      ]);
      const norms = tf.norm(out.carry!.embeddings[0], 'euclidean', 1).dataSync();
      for (const norm of norms) expect(norm).toBeCloseTo(1, 5);
    });
    tf.dispose([batch.images, ...batch.views]);
    disposeTestRuntime(runtime);
  });

  it('starts with unit prototypes, gives them no gradient in the first epoch, and renormalizes them after each step', () => {
    const runtime = buildRuntime({ ...swav.defaults, ...tinyConfig, freezePrototypesEpochs: 1 });
    const kernel = runtime.trainable.prototypes.trainableWeights[0].read() as tf.Variable;
    const unitNorms = () => tf.tidy(() => Array.from(tf.norm(kernel, 'euclidean', 0).dataSync()));
    unitNorms().forEach((n) => expect(n).toBeCloseTo(1, 5));
    const projector = runtime.trainable.projector.trainableWeights.map((w) => w.read() as tf.Variable);
    const batch = multiCropBatch(8, 2);
    const gradientsAt = (epoch: number) => {
      const { value, grads } = tf.variableGrads(() => runtime.step(batch, context(epoch)).loss, [kernel, ...projector]);
      const size = (v: tf.Variable) => (grads[v.name] ? tf.max(tf.abs(grads[v.name])).dataSync()[0] : 0);
      const out = { prototypes: size(kernel), projector: Math.max(...projector.map(size)) };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const first = gradientsAt(0);
    const second = gradientsAt(1);
    expect(first.prototypes).toBe(0);
    expect(first.projector).toBeGreaterThan(0);
    expect(second.prototypes).toBeGreaterThan(0);
    // An update that leaves them off the sphere is undone by afterStep.
    kernel.assign(tf.mul(kernel, 3));
    tf.tidy(() => runtime.afterStep?.(batch, context(1)));
    unitNorms().forEach((n) => expect(n).toBeCloseTo(1, 5));
    tf.dispose([batch.images, ...batch.views]);
    disposeTestRuntime(runtime);
  });

  it('queues the high-resolution embeddings newest first and, once full, takes the codes over queue + batch', () => {
    const runtime = buildRuntime({ ...swav.defaults, ...tinyConfig, queueLength: 12, queueStartEpoch: 1 });
    const queue = runtime.state!.queue;
    expect(queue.shape).toEqual([2, 12, 16]);
    const batches = [multiCropBatch(8, 3), multiCropBatch(8, 13)];
    const embeddingsOf = (batch: UnlabeledBatch, epoch: number) =>
      tf.tidy(() => runtime.step(batch, context(epoch)).carry!.embeddings.map((z) => tf.clone(z)));
    // Before queueStartEpoch nothing is queued.
    const early = embeddingsOf(batches[0], 0);
    tf.tidy(() => runtime.afterStep?.(batches[0], context(0), { embeddings: early }));
    expect(tf.tidy(() => tf.max(tf.abs(queue)).dataSync()[0])).toBe(0);
    // Two batches of 8 into a queue of 12: the newest 8 first, then the 4 newest of the previous batch.
    const first = embeddingsOf(batches[0], 1);
    tf.tidy(() => runtime.afterStep?.(batches[0], context(1), { embeddings: first }));
    const second = embeddingsOf(batches[1], 1);
    tf.tidy(() => runtime.afterStep?.(batches[1], context(1), { embeddings: second }));
    const expectedQueue = tf.tidy(() => tf.stack([0, 1].map((v) => tf.concat([second[v], tf.slice(first[v], [0, 0], [4, -1])], 0))));
    expect(Array.from(queue.dataSync())).toEqual(Array.from(expectedQueue.dataSync()));
    // The queue is full: its scores against the current prototypes join Sinkhorn-Knopp.
    const batch = batches[0];
    tf.tidy(() => {
      const fromStep = runtime.step(batch, context(1)).loss.dataSync()[0];
      const scores = referenceScores(runtime, batch.views);
      const queueScores = [0, 1].map(
        (v) => tf.matMul(tf.reshape(tf.slice(queue, [v, 0, 0], [1, -1, -1]), [12, 16]), prototypeRows(runtime), false, true) as tf.Tensor2D,
      );
      const withQueue = swavLoss(scores.slice(0, 2), scores.slice(2), { queueScores }).dataSync()[0];
      const without = swavLoss(scores.slice(0, 2), scores.slice(2)).dataSync()[0];
      expect(fromStep).toBeCloseTo(withQueue, 4);
      expect(Math.abs(withQueue - without)).toBeGreaterThan(1e-4);
    });
    tf.dispose([...early, ...first, ...second, expectedQueue, ...batches.flatMap((b) => [b.images, ...b.views])]);
    disposeTestRuntime(runtime);
  });

  // CI-sized runs on the committed 3000-image sample (learningRun from @ssl/test-utils): weighted kNN (k = 200) of the
  // trained CNN 16-32-64 against the same CNN at random init (64.2 %), averaged over two training seeds. Figures and
  // why: LEARNING_SEEDS below.
  it('learns: kNN beats the same encoder at random init on average over two seeds, with healthy collapse diagnostics', async () => {
    let gain = 0;
    for (const seed of LEARNING_SEEDS) {
      const method = registry().create('noncontrastive:swav', LEARNING_CONFIG);
      const run = await learningRun({ method, epochs: LEARNING_EPOCHS, batchSize: 32, seed });
      console.info(describeLearningRun(`swav seed ${seed}`, run));
      expect(run.lastMetrics.projectionStd).toBeGreaterThan(0.4);
      expect(run.lastMetrics.featureStd).toBeGreaterThan(0.3);
      // Hard assignments spread over the prototypes (a collapsed clustering uses one or two of the 30).
      expect(run.lastMetrics.prototypeUsage).toBeGreaterThan(0.3);
      gain += (run.trained - run.randomInit) / LEARNING_SEEDS.length;
    }
    expect(gain).toBeGreaterThan(LEARNING_MARGIN);
  }, 1_200_000);
});

/**
 * The defaults but 2 local crops instead of 6 (CI time) and no frozen first epoch: of CI's 558 steps the frozen epoch
 * leaves the prototypes fixed at their random directions for 93, and with them frozen the runs below gained less in
 * each of the four seed × order pairs.
 */
const LEARNING_CONFIG = { views: { localCrops: 2 }, freezePrototypesEpochs: 0 };
const LEARNING_EPOCHS = 6;
/**
 * Measured on the sample, 2026-12-06 (kNN gain over the random-init control in points, seed 0 / seed 1, under each
 * summation order of the Winograd filter gradient — SSL_WINOGRAD_FILTER_PRODUCTS=rows | blocked): this recipe
 * +2.5 / +1.2 (mean +1.85) | +1.3 / +1.9 (mean +1.6), so the mean clears the margin by 1.35 | 1.1 points. With the
 * prototypes frozen in the first epoch (the single-seed test before): +1.9 / +1.0 | +0.4 / +0.6 — seed 0 alone went from
 * +1.9 to +0.4 with the summation order, below its margin. On 1000 test images two encoders of equal quality differ
 * by which images they happen to get right, so one run's figure moves by up to 1.5 points with the summation order
 * alone: hence the mean over two seeds. 558 steps of 32 per seed (README: 3 × 64 gave −1.0 to −2.5, 6 × 64 +0.7): twice the
 * training of the single run it replaces (36–38 s in the full CI run); 431 + 391 s of training under load 10 with nice 10.
 */
const LEARNING_SEEDS = [0, 1];
/** A mean gain of at least 0.5 points, as Barlow Twins' and VICReg's tests ask of one run. */
const LEARNING_MARGIN = 0.005;
