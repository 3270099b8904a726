import * as tf from '@tensorflow/tfjs-core';
import { Random, cosineMomentum, createEncoder, createRegistry, emaUpdate, initBackend, loadFashionMnist, train } from '@ssl/core';
import type { CnnSpec, MethodRuntime, StepContext, UnlabeledBatch } from '@ssl/core';
import { extractFeatures, knnClassify } from '@ssl/eval';
import { describeMethodContract, disposeTestRuntime, sampleIds, testBuildContext, testStepContext } from '@ssl/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import noncontrastive, { byol, byolLoss, byolMomentum, normalizedStd } from '../index';
import type { BYOLConfig } from '../index';

// Single-threaded wasm: bit-exact reruns for the method contract's determinism and resume tests.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
}, 60_000);

const registry = () => createRegistry().use(noncontrastive());
const tinyEncoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 11 };
const tinyConfig = { projectionHiddenDim: 32, projectionDim: 16, predictorHiddenDim: 32 };

/** Builds the runtime outside the trainer, as the trainer does, for white-box checks. */
function buildRuntime(config: BYOLConfig): MethodRuntime<'unlabeled'> {
  const rng = new Random(9);
  let encoderSeed = 100;
  const context = testBuildContext<BYOLConfig>({
    config,
    inputShape: [28, 28, 1],
    rng,
    createEncoder: () => createEncoder({ ...tinyEncoder, seed: encoderSeed++ }),
  });
  return byol.build(context);
}

function randomBatch(size: number, seed: number): UnlabeledBatch {
  const images = tf.randomUniform([size, 28, 28, 1], 0, 1, 'float32', seed) as tf.Tensor4D;
  return {
    kind: 'unlabeled',
    images,
    indices: sampleIds(size),
    views: [
      tf.randomUniform([size, 28, 28, 1], 0, 1, 'float32', seed + 1) as tf.Tensor4D,
      tf.randomUniform([size, 28, 28, 1], 0, 1, 'float32', seed + 2) as tf.Tensor4D,
    ],
  };
}

const context = (progress: number): StepContext =>
  testStepContext({ step: 0, epoch: 0, totalSteps: 10, progress, rng: new Random(1), lr: 0.1 });

function kernels(model: { trainableWeights: { read(): tf.Tensor }[] }): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

describeMethodContract({
  plugin: noncontrastive,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'noncontrastive:byol',
  config: tinyConfig,
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: tinyEncoder,
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { baseMomentum: 1.5 }, field: 'baseMomentum' },
    { config: { baseMomentum: -0.1 }, field: 'baseMomentum' },
    { config: { baseMomentum: 0.99, finalMomentum: 0.9 }, field: 'finalMomentum' },
    { config: { projectionDim: 0 }, field: 'projectionDim' },
    { config: { predictorHiddenDim: 2.5 }, field: 'predictorHiddenDim' },
    { config: { views: { solarizeP2: 1.2 } }, field: 'views.solarizeP2' },
    { config: { views: { cropScale: [0, 2] } }, field: 'views.cropScale' },
    { config: { viewForwarding: 'together' }, field: 'viewForwarding' },
  ],
  moreConfigs: [{ ...tinyConfig, viewForwarding: 'concatenated' }],
  checkRun(result) {
    for (const record of result.history) {
      // Symmetric BYOL loss: two terms in [0, 4].
      expect(record.loss).toBeGreaterThanOrEqual(0);
      expect(record.loss).toBeLessThanOrEqual(8);
      expect(record.metrics.projectionStd).toBeGreaterThan(0);
      expect(record.metrics.featureStd).toBeGreaterThan(0);
      // Effective rank (participation ratio) of the features: above 1, no dimensional collapse.
      expect(record.metrics.featureRank).toBeGreaterThan(1);
    }
  },
});

describe('noncontrastive:byol', () => {
  it('forwards each view on its own by default (the authors’ code), so batch norm never mixes the views', () => {
    const batch = randomBatch(8, 40);
    const lossOf = (viewForwarding: 'per-view' | 'concatenated') => {
      const runtime = buildRuntime({ ...byol.defaults, ...tinyConfig, viewForwarding });
      const { trainable, frozen } = runtime;
      const [fromStep, expected] = tf.tidy(() => {
        const fromStep = runtime.step(batch, context(0)).loss.dataSync()[0];
        const forward = (x: tf.Tensor4D) => {
          const z = trainable.projector.apply(runtime.encoder.features(x, { training: true }), { training: true }) as tf.Tensor2D;
          const target = frozen!.targetProjector.apply(frozen!.targetEncoder.apply(x, { training: true }) as tf.Tensor, {
            training: true,
          }) as tf.Tensor2D;
          return { prediction: trainable.predictor.apply(z, { training: true }) as tf.Tensor2D, target };
        };
        const [v1, v2] = batch.views;
        let outputs: { prediction: tf.Tensor2D; target: tf.Tensor2D }[];
        if (viewForwarding === 'per-view') outputs = [forward(v1), forward(v2)];
        else {
          const both = forward(tf.concat([v1, v2], 0));
          const rows = (x: tf.Tensor2D, start: number) => tf.slice(x, [start, 0], [8, -1]) as tf.Tensor2D;
          outputs = [0, 8].map((start) => ({ prediction: rows(both.prediction, start), target: rows(both.target, start) }));
        }
        const expected = tf.add(byolLoss(outputs[0].prediction, outputs[1].target), byolLoss(outputs[1].prediction, outputs[0].target));
        return [fromStep, expected.dataSync()[0]];
      });
      disposeTestRuntime(runtime);
      return { fromStep, expected };
    };
    const perView = lossOf('per-view');
    const concatenated = lossOf('concatenated');
    expect(perView.fromStep).toBeCloseTo(perView.expected, 4);
    expect(concatenated.fromStep).toBeCloseTo(concatenated.expected, 4);
    // Same weights and views: only the batch-norm statistics differ.
    expect(Math.abs(perView.fromStep - concatenated.fromStep)).toBeGreaterThan(1e-4);
    expect(registry().create('noncontrastive:byol').config.viewForwarding).toBe('per-view');
    tf.dispose([batch.images, ...batch.views]);
  });

  it('has the paper and typed defaults', () => {
    const handle = registry().create('noncontrastive:byol');
    expect(handle.config.baseMomentum).toBe(0.99);
    expect(handle.config.finalMomentum).toBe(1);
    expect(byol.paper?.url).toContain('2006.07733');
  });

  it('follows the cosine momentum schedule from baseMomentum to finalMomentum (BYOL sec. 3.2)', () => {
    const config = { baseMomentum: 0.99, finalMomentum: 1 };
    expect(byolMomentum(config, 0)).toBeCloseTo(0.99, 12);
    expect(byolMomentum(config, 0.5)).toBeCloseTo(0.995, 12);
    expect(byolMomentum(config, 1)).toBeCloseTo(1, 12);
    expect(byolMomentum({ baseMomentum: 0.9, finalMomentum: 0.95 }, 1)).toBeCloseTo(0.95, 12);
  });

  it('measures collapse: normalized std ≈ 1 for spread embeddings, 0 for a constant one', () => {
    const spread = tf.randomNormal([512, 32], 0, 1, 'float32', 3) as tf.Tensor2D;
    const constant = tf.ones([512, 32]) as tf.Tensor2D;
    const healthy = normalizedStd(spread);
    const collapsed = normalizedStd(constant);
    expect(healthy.dataSync()[0]).toBeGreaterThan(0.9);
    expect(healthy.dataSync()[0]).toBeLessThan(1.1);
    expect(collapsed.dataSync()[0]).toBeLessThan(1e-3);
    tf.dispose([spread, constant, healthy, collapsed]);
  });

  it('starts the target as a copy of the online network and gives it no gradient', () => {
    const runtime = buildRuntime({ ...byol.defaults, ...tinyConfig });
    const frozen = runtime.frozen ?? {};
    const online = [...kernels(runtime.trainable.encoder), ...kernels(runtime.trainable.projector)];
    const target = [...kernels(frozen.targetEncoder), ...kernels(frozen.targetProjector)];
    expect(target).toHaveLength(online.length);
    online.forEach((v, i) => expect(Array.from(target[i].dataSync())).toEqual(Array.from(v.dataSync())));
    // The target's variables are not the optimizer's (not in any trainable network).
    const trainableSet = new Set(Object.values(runtime.trainable).flatMap((m) => kernels(m)));
    for (const v of target) expect(trainableSet.has(v)).toBe(false);
    // And the loss carries no gradient into them: sg(z′) in BYOL eq. 2.
    const batch = randomBatch(8, 1);
    const { value, grads } = tf.variableGrads(() => runtime.step(batch, context(0)).loss, [...target, online[0]]);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    for (const v of target) {
      const gradient = grads[v.name];
      if (gradient) expect(tf.max(tf.abs(gradient)).dataSync()[0]).toBe(0);
    }
    // ... while the online encoder does get one.
    expect(tf.max(tf.abs(grads[online[0].name])).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads), batch.images, ...batch.views]);
    disposeTestRuntime(runtime);
  });

  it('declares its target as momentum pairs on the cosine schedule: the EMA gives exactly ξ ← τξ + (1 − τ)θ (BYOL eq. 1)', () => {
    const runtime = buildRuntime({ ...byol.defaults, ...tinyConfig });
    const frozen = runtime.frozen ?? {};
    const declared = runtime.momentumPairs;
    const expectedPairs = [
      [frozen.targetEncoder, runtime.trainable.encoder],
      [frozen.targetProjector, runtime.trainable.projector],
    ];
    expect(declared?.pairs).toHaveLength(2);
    declared?.pairs.forEach(({ target, source }, k) => {
      expect(target).toBe(expectedPairs[k][0]);
      expect(source).toBe(expectedPairs[k][1]);
    });
    const progress = 0.3;
    const momentum = declared!.momentum(context(progress));
    expect(momentum).toBe(cosineMomentum(0.99, progress, 1));
    expect(momentum).toBeGreaterThan(0.99);
    const onlineKernel = kernels(runtime.trainable.encoder)[0];
    const targetKernel = kernels(frozen.targetEncoder)[0];
    const targetHeadKernel = kernels(frozen.targetProjector)[0];
    const onlineHeadKernel = kernels(runtime.trainable.projector)[0];
    // Move the online network away from the target, as an optimizer step would.
    onlineKernel.assign(tf.randomNormal(onlineKernel.shape, 0, 0.1, 'float32', 7));
    onlineHeadKernel.assign(tf.randomNormal(onlineHeadKernel.shape, 0, 0.1, 'float32', 8));
    const before = [targetKernel, targetHeadKernel].map((v) => Float32Array.from(v.dataSync()));
    const source = [onlineKernel, onlineHeadKernel].map((v) => Float32Array.from(v.dataSync()));
    // What the trainer does with the declared pairs after each optimizer step.
    for (const { target, source: online } of declared!.pairs) emaUpdate(target, online, momentum);
    [targetKernel, targetHeadKernel].forEach((v, k) => {
      const after = v.dataSync();
      for (let i = 0; i < after.length; i++) {
        const expected = momentum * before[k][i] + (1 - momentum) * source[k][i];
        expect(Math.abs(after[i] - expected)).toBeLessThan(1e-6 + 1e-5 * Math.abs(expected));
      }
    });
    // The online network is untouched by the update.
    expect(Array.from(onlineKernel.dataSync())).toEqual(Array.from(source[0]));
    disposeTestRuntime(runtime);
  });

  // CI-sized run on the committed 3000-image sample, weighted kNN (k = 200, sample train → sample test)
  // against the same encoder at random init. Measured (examples/byol-fashion-mnist/README.md, search log): at
  // this budget BYOL does NOT reliably beat random init (+2.2 points on a 3000-image slice of the full train
  // set, −5.1 points here on the sample with the former concatenated forward: 64.2 → 59.1 %; per view, the
  // default since 0.2: 64.2 → 60.2 %, −4.0), so this test checks what holds: no collapse, and
  // the features stay within 8 points of random init (SGD at lr 0.1 fell 11.7 points and fails it).
  it('trains without collapsing: healthy diagnostics, kNN within 8 points of random init', async () => {
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const testSet = await loadFashionMnist({ split: 'test', source: 'sample' });
    const encoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], seed: 1234 };
    const knn = async (features: { features: (x: tf.Tensor4D) => tf.Tensor2D }) =>
      (await knnClassify(await extractFeatures(features as never, trainSet), await extractFeatures(features as never, testSet), { k: 200 }))
        .top1;
    const randomInit = createEncoder(encoder);
    const before = await knn(randomInit);
    randomInit.model.dispose();
    const result = await train({
      method: registry().create('noncontrastive:byol'),
      data: trainSet,
      encoder,
      epochs: LEARNING_EPOCHS,
      batchSize: 64,
      seed: 0,
    });
    try {
      const after = await knn(result.encoder);
      const last = result.history.slice(-5);
      const projectionStd = last.reduce((s, r) => s + r.metrics.projectionStd, 0) / last.length;
      const featureStd = last.reduce((s, r) => s + r.metrics.featureStd, 0) / last.length;
      console.info(
        `byol learning test: kNN random init ${before.toFixed(3)} → trained ${after.toFixed(3)}; std·√d projections ${projectionStd.toFixed(3)}, features ${featureStd.toFixed(3)}`,
      );
      // Per-dimension std of L2-normalized embeddings > 0.3/√d: far from collapse (0) at ~1 for spread ones.
      expect(projectionStd).toBeGreaterThan(0.3);
      expect(featureStd).toBeGreaterThan(0.3);
      expect(after).toBeGreaterThan(before - LEARNING_TOLERANCE);
    } finally {
      result.dispose();
    }
  }, 600_000);
});

/** Chosen from measured runs (example README): −4.0 points per view (−5.1 concatenated) with this seed, 8 allowed. */
const LEARNING_EPOCHS = 3;
const LEARNING_TOLERANCE = 0.08;
