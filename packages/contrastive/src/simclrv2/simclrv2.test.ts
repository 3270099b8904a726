import * as tf from '@tensorflow/tfjs-core';
import {
  Random,
  createEncoder,
  createRegistry,
  gatherBatch,
  initBackend,
  labeledSplit,
  loadFashionMnist,
  projectionHead,
  train,
} from '@ssl/core';
import type { CnnSpec, ImageDataset, TrainResult } from '@ssl/core';
import { contractData, describeMethodContract, disposeTestRuntime } from '@ssl/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import contrastive, { projectionHeadFirstLayer, simclrv2, simclrv2Logits } from '../index';
import type { SimCLRv2Runtime } from '../index';

// Single-threaded wasm: bit-exact reruns for the method contract's determinism and resume tests.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
}, 60_000);

const registry = () => createRegistry().use(contrastive());
const tinyEncoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 11 };

// 50 images, 1 label per class: 40 unlabeled; 4 labeled + 8 unlabeled per step gives 5 steps per epoch, so
// with 1 epoch per round the 12-step run is pretrain (steps 0–4), fine-tune (5–9) and distill (10–11).
describeMethodContract({
  plugin: contrastive,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'contrastive:simclrv2',
  config: { projectionHiddenDim: 16, projectionDim: 8, unlabeledRatio: 2 },
  moreConfigs: [
    { projectionHiddenDim: 16, projectionDim: 8, unlabeledRatio: 2, studentInit: 'teacher', distillLabeledWeight: 0 },
    // A smaller student (the paper's big-to-small distillation).
    { projectionHiddenDim: 16, projectionDim: 8, unlabeledRatio: 2, studentInit: 'random', studentEncoder: { channels: [4, 8] } },
  ],
  data: { semiSupervised: { source: 'fashion-mnist-sample', size: 50 }, labeledPerClass: 1 },
  encoder: tinyEncoder,
  batchSize: 4,
  steps: 12,
  epochs: 1,
  invalidConfigs: [
    { config: { stages: [] }, field: 'stages' },
    { config: { stages: ['fine-tune', 'pretrain'] }, field: 'stages' },
    { config: { stages: ['pretrain', 'distill'] }, field: 'stages' },
    { config: { stages: ['fine-tune', 'fine-tune'] }, field: 'stages' },
    { config: { unlabeledRatio: 0 }, field: 'unlabeledRatio' },
    { config: { temperature: 0 }, field: 'temperature' },
    { config: { fineTuneBackboneLrScale: -1 }, field: 'fineTuneBackboneLrScale' },
    { config: { fineTuneLrScale: 0 }, field: 'fineTuneLrScale' },
    { config: { distillLrScale: -2 }, field: 'distillLrScale' },
    { config: { linearProbeFraction: 1 }, field: 'linearProbeFraction' },
    { config: { distillTemperature: 0 }, field: 'distillTemperature' },
    { config: { distillLabeledWeight: -0.5 }, field: 'distillLabeledWeight' },
    { config: { studentInit: 'pretrained' }, field: 'studentInit' },
    { config: { studentEncoder: [4, 8] }, field: 'studentEncoder' },
    { config: { studentEncoder: { channels: [4, 8] } }, field: 'studentInit' },
    { config: { translateFraction: 2 }, field: 'translateFraction' },
    { config: { views: { cropScale: [0.8, 0.2] } }, field: 'views.cropScale' },
  ],
  checkRun(result: TrainResult) {
    for (const record of result.history) expect(Number.isFinite(record.loss)).toBe(true);
    // The three rounds ran, in order: pretraining's metric, then fine-tuning's, then distillation's.
    const stages = result.history.map((r) =>
      'positiveCosine' in r.metrics ? 'pretrain' : 'labeledAccuracy' in r.metrics ? 'fine-tune' : 'distill',
    );
    expect(stages).toEqual(
      stages.slice().sort((a, b) => ['pretrain', 'fine-tune', 'distill'].indexOf(a) - ['pretrain', 'fine-tune', 'distill'].indexOf(b)),
    );
    expect((result.runtime as SimCLRv2Runtime).simclrv2.stage).toBe(stages.at(-1));
  },
});

describe('contrastive:simclrv2', () => {
  it('has the paper and typed defaults', () => {
    const handle = registry().create('contrastive:simclrv2');
    expect(handle.config.stages).toEqual(['pretrain', 'fine-tune', 'distill']);
    expect(simclrv2.paper?.url).toContain('2006.10029');
    expect(simclrv2.rounds?.(handle.config)).toBe(3);
    expect(simclrv2.rounds?.({ ...handle.config, stages: ['fine-tune'] })).toBe(1);
  });

  it("fine-tunes from g's first layer: Linear → BN → ReLU with a copy of g's weights", () => {
    const projector = projectionHead({ inputDim: 6, hiddenDim: 5, outputDim: 3, layers: 3, batchNorm: true, lastBatchNorm: true, seed: 2 });
    const first = projectionHeadFirstLayer(projector);
    const x = tf.randomNormal([7, 6], 0, 1, 'float32', 4) as tf.Tensor2D;
    const [linear, batchNorm] = projector.layers.filter((layer) => layer.weights.length > 0);
    tf.tidy(() => {
      const out = first.apply(x, { training: true }) as tf.Tensor2D;
      expect(out.shape).toEqual([7, 5]);
      // The same computation by hand with g's own first two layers.
      const expected = tf.relu(batchNorm.apply(linear.apply(x), { training: true }) as tf.Tensor2D);
      expect(Array.from(out.dataSync())).toEqual(Array.from(expected.dataSync()));
    });
    // Copied, not shared: g can be freed and the copy still computes.
    const shared = new Set(projector.weights.map((w) => w.read().id));
    for (const w of first.weights) expect(shared.has(w.read().id)).toBe(false);
    projector.dispose();
    tf.tidy(() => {
      expect((first.apply(x) as tf.Tensor2D).shape).toEqual([7, 5]);
    });
    // A head without batch norm has no such layer.
    const plain = projectionHead({ inputDim: 6, hiddenDim: 5, outputDim: 3, layers: 3, batchNorm: false });
    expect(() => projectionHeadFirstLayer(plain)).toThrow(/batch norm/);
    plain.dispose();
    first.dispose();
    x.dispose();
  });

  it('distils into a smaller student with studentEncoder, the network its supervised-only control trains too', async () => {
    const data = await contractData({ semiSupervised: { source: 'fashion-mnist-sample', size: 50 }, labeledPerClass: 1 });
    const studentConfig = {
      projectionHiddenDim: 16,
      projectionDim: 8,
      unlabeledRatio: 2,
      studentInit: 'random' as const,
      studentEncoder: { channels: [4, 8] },
    };
    const run = (config: object) =>
      train({ method: registry().create('contrastive:simclrv2', config), data, encoder: tinyEncoder, epochs: 1, batchSize: 4 });
    const pipeline = await run(studentConfig);
    const { network, teacher } = (pipeline.runtime as SimCLRv2Runtime).simclrv2;
    expect([teacher?.encoder.featureDim, network?.encoder.featureDim, pipeline.encoder.featureDim]).toEqual([16, 8, 8]);
    pipeline.dispose();
    const control = await run(simclrv2.supervisedControl!({ ...simclrv2.defaults, ...studentConfig }));
    expect(control.encoder.featureDim).toBe(8);
    control.dispose();
    // A field a CNN does not have is refused when the student is built, named under studentEncoder.
    await expect(run({ ...studentConfig, studentEncoder: { depth: 2 } })).rejects.toMatchObject({
      code: 'invalid-config',
      message: expect.stringContaining('studentEncoder.depth'),
    });
  });

  it('rejects a runtime of another method in simclrv2Logits, and a teacher that is not there', () => {
    const images = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
    const runtime = simclrv2.build({
      config: { ...simclrv2.defaults, stages: ['fine-tune'], projectionHiddenDim: 8 },
      inputShape: [28, 28, 1],
      numClasses: 3,
      rng: new Random(1),
      sampleCount: 0,
      round: 0,
      pools: { get: () => undefined, names: () => [] },
      createEncoder: () => createEncoder(tinyEncoder),
    }) as SimCLRv2Runtime;
    const logits = simclrv2Logits(runtime, images);
    expect(logits.shape).toEqual([2, 3]);
    expect(() => simclrv2Logits(runtime, images, { network: 'teacher' })).toThrow(/no teacher/);
    expect(() => simclrv2Logits({ ...runtime, simclrv2: undefined } as never, images)).toThrow(/contrastive:simclrv2/);
    tf.dispose([images, logits]);
    disposeTestRuntime(runtime);
  });
});

// CI-sized learning test, the protocol at the sample's scale: 10 labels per class of the 3000-image
// sample (3 label draws), the rest unlabeled; each stage a round of the same length; test-set accuracy of the
// fine-tuned teacher and the distilled student against supervised-only training of the same network on the
// same labels with the same flip + translate view (`stages: ['fine-tune']`) at its best learning rate.
describe('contrastive:simclrv2 learning (sample, 100 labels, 3 seeds)', () => {
  it('the distilled student beats its fine-tuned teacher and supervised-only training on the same labels (means over 3 seeds)', async () => {
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const testSet = await loadFashionMnist({ split: 'test', source: 'sample' });
    const figures: Array<{ supervised: number; teacher: number; student: number }> = [];
    for (const seed of SEEDS) {
      const data = labeledSplit(trainSet, { perClass: 10, seed });
      const encoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], seed: 1234 + seed };
      const run = (config: object) =>
        train({
          method: registry().create('contrastive:simclrv2', config),
          data,
          encoder,
          epochs: EPOCHS,
          batchSize: 32,
          seed,
        });
      // The supervised-only control at its best rate: 4 × 2e-3, the fine-tuning round's default rate.
      const supervisedRun = await run(simclrv2.supervisedControl!(simclrv2.defaults));
      const supervised = testAccuracy(supervisedRun, testSet);
      supervisedRun.dispose();
      const pipeline = await run({});
      const teacher = testAccuracy(pipeline, testSet, 'teacher');
      const student = testAccuracy(pipeline, testSet);
      pipeline.dispose();
      figures.push({ supervised, teacher, student });
      console.info(
        `simclrv2 seed ${seed}: supervised-only ${supervised.toFixed(3)}, fine-tuned teacher ${teacher.toFixed(3)}, distilled student ${student.toFixed(3)}`,
      );
    }
    const mean = (key: 'supervised' | 'teacher' | 'student') => figures.reduce((sum, f) => sum + f[key], 0) / figures.length;
    console.info(
      `simclrv2 mean over seeds: supervised-only ${mean('supervised').toFixed(3)}, teacher ${mean('teacher').toFixed(3)}, student ${mean('student').toFixed(3)}`,
    );
    // Not asserted: the teacher against supervised-only. At this scale it is not ahead (65.1 vs 65.2 over the three
    // seeds: +1.1, +1.8, −3.2), which the package README reports.
    expect(mean('student')).toBeGreaterThan(mean('supervised') + STUDENT_MARGIN);
    expect(mean('student')).toBeGreaterThan(mean('teacher') + DISTILL_MARGIN);
  }, 1_800_000);
});

/** Top-1 on the sample's test split of the run's trained classifier (or of its teacher). */
function testAccuracy(result: TrainResult, testSet: ImageDataset, network: 'trained' | 'teacher' = 'trained'): number {
  return tf.tidy(() => {
    const { images, labels } = gatherBatch(
      testSet,
      Int32Array.from({ length: testSet.size }, (_, i) => i),
    );
    labels?.dispose();
    const predicted = tf.argMax(simclrv2Logits(result.runtime, images, { network }), 1).dataSync();
    let correct = 0;
    for (let i = 0; i < testSet.size; i++) if (predicted[i] === testSet.labels![i]) correct++;
    return correct / testSet.size;
  });
}

const SEEDS = [0, 1, 2];
const EPOCHS = 4;
/**
 * Measured means (package README): student 65.6, teacher 65.1, supervised-only 65.2 — student +0.4 over
 * supervised-only and +0.5 over its teacher. The runs are seeded and single-threaded, so these reproduce; the
 * margins are half the measured gains, small because the gains are.
 */
const STUDENT_MARGIN = 0.002;
const DISTILL_MARGIN = 0.002;
