import { createEncoder, createRegistry, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import type { StepRecord, ViewPolicy } from '@ssl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeMethodContract } from '../../test-utils/src/index';
import multiTaskPlugin, { taskPlugins } from './multi-task.fixture';
import { combinedViewPolicy, encoderDistance, resolveTasks } from './multi-task';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
}, 60_000);

const ROTATION = { method: 'pretext:rotation', config: { headHiddenDim: 16 } };
const SIMCLR = { method: 'contrastive:simclr', config: { projectionHiddenDim: 32, projectionDim: 16 } };
// MoCo brings what a task may hold besides heads: a momentum key encoder, a queue in state, a carry to afterStep.
const MOCO = { method: 'contrastive:moco', config: { projectionHiddenDim: 32, projectionDim: 16, queueSize: 32 } };

describeMethodContract({
  plugin: multiTaskPlugin,
  pluginModule: new URL('./multi-task.fixture.ts', import.meta.url),
  method: 'multi-task:hard-sharing',
  config: { tasks: [ROTATION, { ...SIMCLR, weight: 0.5 }] },
  moreConfigs: [{ tasks: [ROTATION, MOCO] }, { tasks: [SIMCLR] }],
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 11 },
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { tasks: [] }, field: 'tasks' },
    { config: { tasks: [{ method: 'pretext:rotatoin' }] }, field: 'tasks[0].method' },
    { config: { tasks: [ROTATION, { ...SIMCLR, weight: 0 }] }, field: 'tasks[1].weight' },
    { config: { tasks: [ROTATION, { ...SIMCLR, weight: -1 }] }, field: 'tasks[1].weight' },
    { config: { tasks: [ROTATION, ROTATION] }, field: 'tasks[1].name' },
    { config: { tasks: [{ method: 'multi-task:hard-sharing' }] }, field: 'tasks[0].method' },
    { config: { tasks: [{ method: 'pretext:colorization' }] }, field: 'tasks[0].method' },
    { config: { tasks: [{ method: 'contrastive:simclr', config: { temperature: 0 } }] }, field: 'tasks[0].config.temperature' },
  ],
  checkRun(result) {
    for (const record of result.history) {
      const taskLosses = Object.entries(record.metrics).filter(([name]) => name.endsWith('_loss'));
      expect(taskLosses.length).toBeGreaterThan(0);
      for (const [, value] of taskLosses) expect(Number.isFinite(value)).toBe(true);
    }
  },
});

describeMethodContract({
  plugin: multiTaskPlugin,
  pluginModule: new URL('./multi-task.fixture.ts', import.meta.url),
  method: 'multi-task:soft-sharing',
  config: { tasks: [ROTATION, SIMCLR], penalty: 1e-2 },
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 11 },
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { penalty: 0 }, field: 'penalty' },
    { config: { penalty: Number.NaN }, field: 'penalty' },
    { config: { tasks: [ROTATION] }, field: 'tasks' },
    { config: { tasks: [ROTATION, { ...SIMCLR, weight: 0 }] }, field: 'tasks[1].weight' },
  ],
  checkRun(result) {
    // One encoder spec and seed: every task's encoder starts from the same weights (distance 0), and the tasks'
    // different gradients move them apart.
    expect(result.history[0].metrics.encoder_distance).toBe(0);
    expect(result.history[result.history.length - 1].metrics.encoder_distance).toBeGreaterThan(0);
  },
});

describe('multi-task:soft-sharing', () => {
  it('encoderDistance is Σ_t≥2 ‖θ_1 − θ_t‖² over the encoders’ trainable weights, as a plain loop sums it', () => {
    const spec = { kind: 'cnn', inputShape: [8, 8, 1], channels: [2, 3], seed: 1 } as const;
    const encoders = [createEncoder(spec), createEncoder({ ...spec, seed: 2 }), createEncoder({ ...spec, seed: 3 })];
    const weights = encoders.map((encoder) => encoder.model.trainableWeights.map((w) => Array.from(w.read().dataSync())));
    let expected = 0;
    for (const other of weights.slice(1))
      other.forEach((values, i) => values.forEach((value, j) => (expected += (weights[0][i][j] - value) ** 2)));
    const distance = encoderDistance(encoders);
    expect(expected).toBeGreaterThan(0);
    expect(distance.dataSync()[0]).toBeCloseTo(expected, 3);
    distance.dispose();
    for (const encoder of encoders) encoder.model.dispose();
  });

  it('minimizes Σ w_t L_t + λ·distance, trains an encoder per task, and a large λ holds the encoders together', async () => {
    const registry = createRegistry().use(multiTaskPlugin());
    const sample = await loadFashionMnist({ split: 'train', source: 'sample' });
    const data = subset(
      sample,
      Array.from({ length: 96 }, (_, i) => i),
    );
    const run = (penalty: number) =>
      train({
        method: registry.create('multi-task:soft-sharing', { tasks: [ROTATION, SIMCLR], penalty }),
        data,
        encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 3 },
        epochs: 1,
        batchSize: 16,
        seed: 5,
      });
    const pulled = await run(10);
    const loose = await run(1e-6);
    try {
      for (const record of pulled.history) {
        expect(record.loss).toBeCloseTo(
          record.metrics.rotation_loss + record.metrics.simclr_loss + 10 * record.metrics.encoder_distance,
          3,
        );
      }
      expect(Object.keys(pulled.runtime.trainable).sort()).toEqual(['encoder', 'rotation-head', 'simclr-encoder', 'simclr-projector']);
      expect(pulled.runtime.trainable['simclr-encoder']).not.toBe(pulled.encoder.model);
      const last = (result: typeof pulled) => result.history[result.history.length - 1].metrics.encoder_distance;
      // Both encoders start from the same weights (one spec and seed); the tasks pull them apart, λ = 10 holds them
      // together. Measured: 6.86e-2 with λ = 1e-6, 1.09e-2 with λ = 10 (Adam bounds each step by lr, whatever λ).
      console.info(
        `soft sharing: encoder distance after 6 steps ${last(loose).toExponential(2)} (λ = 1e-6), ${last(pulled).toExponential(2)} (λ = 10)`,
      );
      expect(last(loose)).toBeGreaterThan(0);
      expect(last(pulled)).toBeLessThan(0.3 * last(loose));
    } finally {
      pulled.dispose();
      loose.dispose();
    }
  });
});

describe('multi-task:hard-sharing', () => {
  const registry = () => createRegistry().use(multiTaskPlugin());

  it('hands each task its own views, in task order, counts expanded', () => {
    const handle = registry().create('multi-task:hard-sharing', { tasks: [ROTATION, SIMCLR] });
    const policy = handle.definition.views(handle.config).unlabeled as ViewPolicy;
    expect(policy.views.map((view) => view.name.split('/')[0])).toEqual(['rotation', 'simclr', 'simclr']);
  });

  it('names a repeated method by its given name, and gives each task its view count', () => {
    const inner = createRegistry().use(taskPlugins.pretext()).use(taskPlugins.contrastive());
    const tasks = resolveTasks(inner, {
      tasks: [ROTATION, { ...SIMCLR, name: 'simclr-hot' }, { ...SIMCLR, name: 'simclr-cold', config: { temperature: 0.5 } }],
    });
    expect(tasks.map((task) => [task.name, task.weight, task.viewCount])).toEqual([
      ['rotation', 1, 1],
      ['simclr-hot', 1, 2],
      ['simclr-cold', 1, 2],
    ]);
    expect(combinedViewPolicy(tasks).views).toHaveLength(5);
  });

  it('minimizes Σ w_t L_t of the logged task losses, with one encoder network shared by every task', async () => {
    const method = registry().create('multi-task:hard-sharing', {
      tasks: [
        { ...ROTATION, weight: 2 },
        { ...SIMCLR, weight: 0.25 },
      ],
    });
    const sample = await loadFashionMnist({ split: 'train', source: 'sample' });
    const data = subset(
      sample,
      Array.from({ length: 32 }, (_, i) => i),
    );
    const result = await train({
      method,
      data,
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 3 },
      epochs: 1,
      batchSize: 16,
      seed: 5,
    });
    try {
      expect(result.history).toHaveLength(2);
      for (const record of result.history) {
        expect(record.loss).toBeCloseTo(2 * record.metrics.rotation_loss + 0.25 * record.metrics.simclr_loss, 4);
        expect(record.metrics.rotation_rotationAccuracy).toBeGreaterThanOrEqual(0);
        expect(record.metrics.simclr_positiveCosine).toBeLessThanOrEqual(1 + 1e-6);
      }
      const networks = result.runtime.trainable;
      expect(Object.keys(networks).sort()).toEqual(['encoder', 'rotation-head', 'simclr-projector']);
      expect(networks.encoder).toBe(result.encoder.model);
    } finally {
      result.dispose();
    }
  });

  // CI-sized learning check: 40 steps of 32 images of the Fashion-MNIST sample through one small CNN. Each task
  // must learn through the shared encoder against its own chance level: rotation accuracy from 1/4, and the
  // NT-Xent loss below its value at the start (log(2N − 1) = 4.14 for 2N = 64 views when nothing is learned).
  // Measured (seed 0, 1 wasm thread, load 15): rotation accuracy 0.298 → 0.520 over the first/last 5 steps,
  // NT-Xent 3.823 → 2.968, 40 steps in 16.6 s.
  it('learns both tasks through the one encoder: rotation above chance, NT-Xent below its starting value', async () => {
    const method = registry().create('multi-task:hard-sharing', {
      tasks: [{ method: 'pretext:rotation' }, { method: 'contrastive:simclr' }],
    });
    const sample = await loadFashionMnist({ split: 'train', source: 'sample' });
    const started = performance.now();
    const result = await train({
      method,
      data: subset(
        sample,
        Array.from({ length: 1280 }, (_, i) => i),
      ),
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16, 32], seed: 1234 },
      epochs: 1,
      batchSize: 32,
      seed: 0,
    });
    try {
      const mean = (records: StepRecord[], metric: string) => records.reduce((sum, r) => sum + r.metrics[metric], 0) / records.length;
      const first = result.history.slice(0, 5);
      const last = result.history.slice(-5);
      const rotationAccuracy = mean(last, 'rotation_rotationAccuracy');
      const simclrStart = mean(first, 'simclr_loss');
      const simclrEnd = mean(last, 'simclr_loss');
      console.info(
        `multi-task learning: ${result.history.length} steps in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
          `rotation accuracy ${mean(first, 'rotation_rotationAccuracy').toFixed(3)} → ${rotationAccuracy.toFixed(3)}, ` +
          `NT-Xent ${simclrStart.toFixed(3)} → ${simclrEnd.toFixed(3)}`,
      );
      expect(rotationAccuracy).toBeGreaterThan(ROTATION_ACCURACY_FLOOR);
      expect(simclrEnd).toBeLessThan(simclrStart - NT_XENT_DROP);
    } finally {
      result.dispose();
    }
  }, 120_000);
});

/** Chosen from the measured run (README): the measured figures minus a safety margin. */
const ROTATION_ACCURACY_FLOOR = 0.4;
const NT_XENT_DROP = 0.3;
