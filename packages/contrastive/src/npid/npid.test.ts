import * as tf from '@tensorflow/tfjs-core';
import { Random, createEncoder, createRegistry, initBackend } from '@ssl/core';
import type { CnnSpec, MethodRuntime, StepContext, UnlabeledBatch } from '@ssl/core';
import { describeMethodContract, testBuildContext, testStepContext } from '@ssl/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import contrastive, { npid } from '../index';
import type { NPIDCarry, NPIDConfig } from '../index';

// Single-threaded wasm: bit-exact reruns for the method contract's determinism and resume tests.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
}, 60_000);

const registry = () => createRegistry().use(contrastive());
const tinyEncoder: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 11 };

describeMethodContract({
  plugin: contrastive,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'contrastive:npid',
  config: { embeddingDim: 16, negatives: 32 },
  moreConfigs: [{ embeddingDim: 16, softmax: 'full' }],
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: tinyEncoder,
  batchSize: 16,
  steps: 6,
  invalidConfigs: [
    { config: { temperature: 0 }, field: 'temperature' },
    { config: { embeddingDim: 0 }, field: 'embeddingDim' },
    { config: { softmax: 'nce' }, field: 'softmax' },
    { config: { negatives: 2.5 }, field: 'negatives' },
    { config: { bankMomentum: 1 }, field: 'bankMomentum' },
    { config: { views: { jitterP: 2 } }, field: 'views.jitterP' },
  ],
  checkRun(result) {
    for (const record of result.history) {
      expect(record.loss).toBeGreaterThan(0);
      expect(Math.abs(record.metrics.memoryCosine)).toBeLessThanOrEqual(1 + 1e-5);
    }
  },
});

function buildRuntime(config: NPIDConfig, sampleCount: number): MethodRuntime<'unlabeled', NPIDCarry> {
  return npid.build(
    testBuildContext<NPIDConfig>({
      config,
      inputShape: [28, 28, 1],
      rng: new Random(9),
      sampleCount,
      createEncoder: () => createEncoder(tinyEncoder),
    }),
  );
}

const stepContext = (): StepContext => testStepContext({ step: 0, epoch: 0, totalSteps: 10, progress: 0, rng: new Random(1), lr: 0.1 });

describe('contrastive:npid', () => {
  it('has the paper and typed defaults', () => {
    const handle = registry().create('contrastive:npid');
    expect(handle.config.temperature).toBe(0.07);
    expect(handle.config.bankMomentum).toBe(0.5);
    expect(npid.paper?.url).toContain('1805.01978');
  });

  it('keeps one unit row per sample and moves only the batch’s rows, by the proximal update of the step’s own features', () => {
    const sampleCount = 12;
    const runtime = buildRuntime({ ...npid.defaults, embeddingDim: 8, negatives: 16 }, sampleCount);
    const bank = runtime.state!.memoryBank;
    expect(bank.shape).toEqual([sampleCount, 8]);
    const before = bank.arraySync() as number[][];
    const ids = new Int32Array([7, 2, 10]);
    const view = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const batch: UnlabeledBatch = { kind: 'unlabeled', images: view, views: [view], indices: ids };
    const features = tf.tidy(() => runtime.step(batch, stepContext()).carry!.features);
    const f = features.arraySync() as number[][];
    // The bank is read as it was: step changed nothing.
    expect(bank.arraySync()).toEqual(before);
    tf.tidy(() => runtime.afterStep!(batch, stepContext(), { features }));
    const after = bank.arraySync() as number[][];
    for (let row = 0; row < sampleCount; row++) {
      const slot = Array.from(ids).indexOf(row);
      if (slot < 0) {
        expect(after[row]).toEqual(before[row]);
        continue;
      }
      const mixed = before[row].map((v, c) => 0.5 * v + 0.5 * f[slot][c]);
      const norm = Math.hypot(...mixed);
      mixed.forEach((v, c) => expect(after[row][c]).toBeCloseTo(v / norm, 5));
    }
    tf.dispose([view, features]);
    for (const model of Object.values(runtime.trainable)) model.dispose();
    bank.dispose();
  });

  // No learning test yet: NPID does not beat the random-init kNN control at a CI budget, nor learn its own task
  // there (figures and what was tried in the README). One is added with the first recipe that learns.
});
