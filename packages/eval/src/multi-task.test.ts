import { createRegistry, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import type { ViewPolicy } from '@ssl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeMethodContract } from '../../test-utils/src/index';
import multiTaskPlugin, { taskPlugins } from './multi-task.fixture';
import { combinedViewPolicy, resolveTasks } from './multi-task';

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
});
