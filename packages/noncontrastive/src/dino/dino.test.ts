import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import {
  Random,
  cosineMomentum,
  createEncoder,
  createRegistry,
  dinoHeadLastLayer,
  initBackend,
  vitPreset,
  withEncoderOptions,
} from '@ssl/core';
import type { CnnSpec, MethodRuntime, StepContext, UnlabeledBatch, VitSpec } from '@ssl/core';
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
import noncontrastive, { dino, dinoLoss, dinoTeacherTemperature, updateDinoCenter } from '../index';
import type { DINOCarry, DINOConfig } from '../index';

// Single-threaded wasm: bit-exact reruns for the method contract's determinism and resume tests.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
}, 60_000);

const registry = () => createRegistry().use(noncontrastive());
const tinyEncoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 11 };
const tinyConfig = { outputDim: 32, headHiddenDim: 32, bottleneckDim: 16, views: { localCrops: 4 } };

function buildRuntime(config: DINOConfig, encoder: CnnSpec | VitSpec = tinyEncoder): MethodRuntime<'unlabeled', DINOCarry> {
  let encoderSeed = 100;
  return dino.build(
    testBuildContext<DINOConfig>({
      config,
      inputShape: [28, 28, 1],
      rng: new Random(9),
      createEncoder: () => createEncoder({ ...encoder, seed: encoderSeed++ }),
    }),
  );
}

/** Two 28×28 global crops and four 12×12 local crops, as the default multiCrop policy makes them. */
function multiCropBatch(size: number, seed: number): UnlabeledBatch {
  const crop = (s: number, side: number) => tf.randomUniform([size, side, side, 1], 0, 1, 'float32', s) as tf.Tensor4D;
  return {
    kind: 'unlabeled',
    images: crop(seed, 28),
    indices: sampleIds(size),
    views: [crop(seed + 1, 28), crop(seed + 2, 28), ...[3, 4, 5, 6].map((k) => crop(seed + k, 12))],
  };
}

const context = (epoch: number, progress = 0): StepContext =>
  testStepContext({ step: 0, epoch, totalSteps: 10, progress, rng: new Random(1), lr: 0.1 });

describeMethodContract({
  plugin: noncontrastive,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'noncontrastive:dino',
  config: tinyConfig,
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: tinyEncoder,
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { outputDim: 0 }, field: 'outputDim' },
    { config: { studentTemperature: 0 }, field: 'studentTemperature' },
    { config: { teacherTemperature: -0.07 }, field: 'teacherTemperature' },
    { config: { teacherTemperatureWarmup: 1.5 }, field: 'teacherTemperatureWarmup' },
    { config: { centerMomentum: 2 }, field: 'centerMomentum' },
    { config: { baseMomentum: 0.996, finalMomentum: 0.9 }, field: 'finalMomentum' },
    { config: { freezeLastLayerEpochs: -1 }, field: 'freezeLastLayerEpochs' },
    { config: { headBatchNorm: 1 }, field: 'headBatchNorm' },
    { config: { normLastLayer: 'no' }, field: 'normLastLayer' },
    { config: { views: { globalCrops: 1, localCrops: 0 } }, field: 'views.localCrops' },
    { config: { views: { localScale: [0, 3] } }, field: 'views.localScale' },
    { config: { cropBatches: 'concatenated' }, field: 'cropBatches' },
  ],
  // No local crops (2 global crops only) and no frozen epoch: the other code paths.
  // A head with batch norm and a learned last-layer magnitude (use_bn_in_head, norm_last_layer = False).
  moreConfigs: [
    { ...tinyConfig, freezeLastLayerEpochs: 0, views: { localCrops: 0 } },
    { ...tinyConfig, headBatchNorm: true, normLastLayer: false, cropBatches: 'per-size' },
  ],
  checkRun(result) {
    for (const record of result.history) {
      // A cross-entropy between distributions over K outputs: ≥ 0.
      expect(record.loss).toBeGreaterThanOrEqual(0);
      expect(record.metrics.teacherEntropy).toBeGreaterThanOrEqual(0);
      expect(record.metrics.teacherEntropy).toBeLessThanOrEqual(Math.log(32) + 1e-4);
      // Effective rank of the teacher's outputs: between 1 and min(B, K).
      expect(record.metrics.teacherRank).toBeGreaterThan(1);
      expect(record.metrics.teacherRank).toBeLessThanOrEqual(16);
    }
    // The center moved from 0 towards the teacher's outputs.
    const center = result.runtime.state?.center;
    expect(center?.shape).toEqual([1, 32]);
    expect(tf.tidy(() => tf.max(tf.abs(center!)).dataSync()[0])).toBeGreaterThan(0);
  },
});

describe('noncontrastive:dino', () => {
  it('has the paper and typed defaults', () => {
    const handle = registry().create('noncontrastive:dino');
    expect(handle.config.studentTemperature).toBe(0.1);
    expect([handle.config.warmupTeacherTemperature, handle.config.teacherTemperature]).toEqual([0.04, 0.07]);
    expect(handle.config.centerMomentum).toBe(0.9);
    expect([handle.config.baseMomentum, handle.config.finalMomentum]).toEqual([0.996, 1]);
    expect(dino.paper?.url).toContain('2104.14294');
  });

  it('warms the teacher temperature up linearly from 0.04 to 0.07, then keeps it', () => {
    const config = { warmupTeacherTemperature: 0.04, teacherTemperature: 0.07, teacherTemperatureWarmup: 0.3 };
    expect(dinoTeacherTemperature(config, 0)).toBeCloseTo(0.04, 12);
    expect(dinoTeacherTemperature(config, 0.15)).toBeCloseTo(0.055, 12);
    expect(dinoTeacherTemperature(config, 0.3)).toBeCloseTo(0.07, 12);
    expect(dinoTeacherTemperature(config, 0.9)).toBeCloseTo(0.07, 12);
    expect(dinoTeacherTemperature({ ...config, teacherTemperatureWarmup: 0 }, 0)).toBeCloseTo(0.07, 12);
  });

  it('runs 2 global 28×28 and 4 local 12×12 crops through one encoder; the loss is dinoLoss with the teacher on the global crops only', () => {
    const runtime = buildRuntime({ ...dino.defaults, ...tinyConfig, views: { ...dino.defaults.views, localCrops: 4 } });
    const frozen = runtime.frozen ?? {};
    // The teacher starts as a copy of the student.
    const studentWeights = [...runtime.trainable.encoder.weights, ...runtime.trainable.head.weights].map((w) => w.read());
    const teacherWeights = [...frozen.teacherEncoder.weights, ...frozen.teacherHead.weights].map((w) => w.read());
    studentWeights.forEach((w, i) => expect(Array.from(teacherWeights[i].dataSync())).toEqual(Array.from(w.dataSync())));
    const batch = multiCropBatch(8, 1);
    const progress = 0.1;
    tf.tidy(() => {
      const out = runtime.step(batch, context(1, progress));
      const student = batch.views.map(
        (x) => runtime.trainable.head.apply(runtime.encoder.features(x, { training: true }), { training: true }) as tf.Tensor2D,
      );
      const teacher = batch.views
        .slice(0, 2)
        .map((x) => frozen.teacherHead.apply(createTeacherFeatures(frozen.teacherEncoder, x), { training: true }) as tf.Tensor2D);
      const center = runtime.state!.center as unknown as tf.Tensor2D;
      const temperature = dinoTeacherTemperature(dino.defaults, progress);
      const expected = dinoLoss(student, teacher, center, { studentTemperature: 0.1, teacherTemperature: temperature });
      expect(out.loss.dataSync()[0]).toBeCloseTo(expected.dataSync()[0], 4);
      // The carry holds the teacher outputs of the two global crops, for the center.
      expect(out.carry?.teacherOutputs).toHaveLength(2);
      out.carry?.teacherOutputs.forEach((t, k) => expectAllClose(t, teacher[k]));
    });
    tf.dispose([batch.images, ...batch.views]);
    disposeTestRuntime(runtime);
  });

  it("forwards the crops of one size as one batch with cropBatches 'per-size': the same loss as per view for a ViT without batch norm", () => {
    const tinyVit: VitSpec = { kind: 'vit', inputShape: [28, 28, 1], patchSize: 4, embedDim: 16, depth: 1, numHeads: 2, mlpRatio: 2 };
    const lossOf = (cropBatches: DINOConfig['cropBatches'], headBatchNorm: boolean) => {
      const runtime = buildRuntime({ ...dino.defaults, ...tinyConfig, headBatchNorm, cropBatches }, tinyVit);
      const batch = multiCropBatch(8, 1);
      const value = tf.tidy(() => runtime.step(batch, context(1, 0.5)).loss.dataSync()[0]);
      tf.dispose([batch.images, ...batch.views]);
      disposeTestRuntime(runtime);
      return value;
    };
    expect(lossOf('per-size', false)).toBeCloseTo(lossOf('per-view', false), 5);
    // With batch norm in the head the statistics are those of a crop or of all crops of its size: not the same.
    expect(Math.abs(lossOf('per-size', true) - lossOf('per-view', true))).toBeGreaterThan(1e-4);
  });

  // recipes/dino-vit28.json (README, "DINO with a ViT"): vit28 with 7×7 patches, so a 28×28 global crop is 16 tokens and
  // a local crop must be a multiple of 7 (14×14: 4 tokens), or the ViT refuses it in the first step of a full run.
  it('runs the ViT recipe: its local crops fit the patch-7 grid, one step over every crop gives a finite loss', () => {
    const recipe = JSON.parse(readFileSync(new URL('../../recipes/dino-vit28.json', import.meta.url), 'utf8')) as {
      encoderOptions: Record<string, unknown>;
      method: Partial<DINOConfig>;
    };
    const spec = withEncoderOptions(vitPreset('vit28', { seed: 5 }), recipe.encoderOptions) as VitSpec;
    const config = registry().create('noncontrastive:dino', recipe.method).config;
    const [localHeight, localWidth] = config.views.localSize ?? [12, 12];
    expect([localHeight % spec.patchSize, localWidth % spec.patchSize]).toEqual([0, 0]);
    const runtime = buildRuntime(config, spec);
    const crop = (side: number, seed: number) => tf.randomUniform([4, side, side, 1], 0, 1, 'float32', seed) as tf.Tensor4D;
    const localCrops = Array.from({ length: config.views.localCrops ?? 6 }, (_, k) => crop(localHeight, 3 + k));
    const batch: UnlabeledBatch = {
      kind: 'unlabeled',
      images: crop(28, 0),
      indices: sampleIds(4),
      views: [crop(28, 1), crop(28, 2), ...localCrops],
    };
    const loss = tf.tidy(() => runtime.step(batch, context(0, 0.5)).loss.dataSync()[0]);
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeGreaterThan(0);
    tf.dispose([batch.images, ...batch.views]);
    disposeTestRuntime(runtime);
  });

  it('updates the center in afterStep from the step’s own teacher outputs (eq. 4, m = 0.9)', () => {
    const runtime = buildRuntime({ ...dino.defaults, ...tinyConfig });
    const center = runtime.state!.center;
    center.assign(tf.randomNormal(center.shape, 0, 1, 'float32', 3));
    const before = tf.clone(center);
    const teacherOutputs = [tf.randomNormal([8, 32], 0, 1, 'float32', 4), tf.randomNormal([8, 32], 0, 1, 'float32', 5)] as tf.Tensor2D[];
    const batch = multiCropBatch(8, 1);
    tf.tidy(() => runtime.afterStep?.(batch, context(0), { teacherOutputs }));
    const expected = updateDinoCenter(before as tf.Tensor2D, teacherOutputs, { momentum: 0.9 });
    expectAllClose(center, expected);
    tf.dispose([before, expected, ...teacherOutputs, batch.images, ...batch.views]);
    disposeTestRuntime(runtime);
  });

  it('freezes the last layer in the first epoch (no gradient), not after; the teacher gets none ever', () => {
    const runtime = buildRuntime({ ...dino.defaults, ...tinyConfig, freezeLastLayerEpochs: 1 });
    const lastLayer = dinoHeadLastLayer(runtime.trainable.head).trainableWeights.map((w) => w.read() as tf.Variable);
    const others = runtime.trainable.head.trainableWeights.map((w) => w.read() as tf.Variable).filter((v) => !lastLayer.includes(v));
    const teacher = [...runtime.frozen!.teacherEncoder.weights, ...runtime.frozen!.teacherHead.weights].map((w) => w.read() as tf.Variable);
    const batch = multiCropBatch(8, 1);
    const gradientsAt = (epoch: number) => {
      const { value, grads } = tf.variableGrads(
        () => runtime.step(batch, context(epoch, 0.5)).loss,
        [...lastLayer, ...others, ...teacher.filter((v) => v.trainable)],
      );
      const norm = (v: tf.Variable) => (grads[v.name] ? tf.max(tf.abs(grads[v.name])).dataSync()[0] : 0);
      const out = {
        lastLayer: Math.max(...lastLayer.map(norm)),
        others: Math.max(...others.map(norm)),
        teacher: Math.max(0, ...teacher.map(norm)),
      };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const first = gradientsAt(0);
    const second = gradientsAt(1);
    expect(first.lastLayer).toBe(0);
    expect(first.others).toBeGreaterThan(0);
    expect(second.lastLayer).toBeGreaterThan(0);
    expect(first.teacher).toBe(0);
    expect(second.teacher).toBe(0);
    tf.dispose([batch.images, ...batch.views]);
    disposeTestRuntime(runtime);
  });

  it('declares the teacher as momentum pairs on the cosine schedule from 0.996 to 1', () => {
    const runtime = buildRuntime({ ...dino.defaults, ...tinyConfig });
    const declared = runtime.momentumPairs!;
    expect(declared.pairs.map((p) => [p.target, p.source])).toEqual([
      [runtime.frozen!.teacherEncoder, runtime.trainable.encoder],
      [runtime.frozen!.teacherHead, runtime.trainable.head],
    ]);
    for (const progress of [0, 0.5, 1]) expect(declared.momentum(context(0, progress))).toBe(cosineMomentum(0.996, progress, 1));
    disposeTestRuntime(runtime);
  });

  // CI-sized run on the committed 3000-image sample (learningRun from @ssl/test-utils): weighted kNN
  // (k = 200) of the trained CNN 16-32-64 against the same CNN at random init (64.2 %). With the paper's
  // settings the teacher goes uniform (entropy ≈ log K) and kNN falls 3–7 points (README). The small-budget
  // recipe below keeps the teacher sharp and learns: 6 epochs × 32 (558 steps), 64.2 → 66.0 % (+1.8); with
  // λ_base 0.9 +1.6, at 6 × 64 +0.4; without the head's batch norm the outputs collapse (−8.2, README).
  it('learns with the small-budget recipe: kNN beats the same encoder at random init, the teacher is not uniform', async () => {
    const run = await learningRun({
      method: registry().create('noncontrastive:dino', SMALL_BUDGET),
      epochs: LEARNING_EPOCHS,
      batchSize: 32,
    });
    console.info(describeLearningRun('dino', run));
    // Far below log K = log 128 ≈ 4.85 (uniform, the collapse by centering) and above 0 (one-hot collapse).
    expect(run.lastMetrics.teacherEntropy).toBeLessThan(0.75 * Math.log(128));
    expect(run.lastMetrics.teacherEntropy).toBeGreaterThan(0.1);
    expect(run.lastMetrics.studentStd).toBeGreaterThan(0.3);
    expect(run.trained).toBeGreaterThan(run.randomInit + LEARNING_MARGIN);
  }, 1_800_000);
});

function createTeacherFeatures(teacherEncoder: { apply: (x: tf.Tensor, kwargs: object) => unknown }, x: tf.Tensor4D): tf.Tensor2D {
  return teacherEncoder.apply(x, { training: true }) as tf.Tensor2D;
}

function expectAllClose(actual: tf.Tensor, expected: tf.Tensor): void {
  const a = actual.dataSync();
  const e = expected.dataSync();
  expect(a.length).toBe(e.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - e[i])).toBeLessThan(1e-4 + 1e-4 * Math.abs(e[i]));
}

/**
 * What keeps the teacher from going uniform at a CI budget (README, DINO search): batch norm in the head
 * (use_bn_in_head; without it the outputs collapse), K = 128, τ_t at 0.04 throughout (no warm-up), no frozen
 * last layer, 2 local crops (CI time); the paper's teacher momentum.
 */
const SMALL_BUDGET = {
  headBatchNorm: true,
  outputDim: 128,
  freezeLastLayerEpochs: 0,
  teacherTemperatureWarmup: 0,
  teacherTemperature: 0.04,
  views: { localCrops: 2 },
};
const LEARNING_EPOCHS = 6;
/** Chosen from the measured run (+1.8 points with this seed): a gain of at least 0.5 points is required. */
const LEARNING_MARGIN = 0.005;
