import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from './fixtures/backend';
import { toyDataset, toyEncoder, toyRegistry } from './fixtures/toy-method';
import { MemoryRunStore } from './run-store';
import { train } from './train-in-browser';

beforeAll(useTestBackend);

const registry = toyRegistry();
const options = { data: toyDataset(), encoder: toyEncoder, epochs: 3, batchSize: 8, seed: 5 } as const;

async function finalWeights(result: Awaited<ReturnType<typeof train>>): Promise<Map<string, number[]>> {
  const weights = new Map<string, number[]>();
  for (const [key, variable] of result.variables) weights.set(key, Array.from(await variable.data()));
  return weights;
}

describe('MemoryRunStore and the browser entry’s train', () => {
  it('resumes a stopped run from the store to the exact state of an uninterrupted run', async () => {
    const whole = await train({ ...options, method: registry.create('test:toy') });
    const expected = await finalWeights(whole);
    const expectedLosses = whole.history.map((r) => r.loss);
    whole.dispose();

    const store = new MemoryRunStore();
    const controller = new AbortController();
    const first = await train({
      ...options,
      method: registry.create('test:toy'),
      store,
      signal: controller.signal,
      callbacks: [{ name: 'stop', onStepEnd: (record) => void (record.step === 6 && controller.abort()) }],
    });
    expect(first.interrupted).toBe(true);
    expect(first.steps).toBe(7);
    expect(store.checkpointSteps).toEqual([7]);
    first.dispose();

    const second = await train({ ...options, method: registry.create('test:toy'), store, resume: true });
    expect(second.resumedFromStep).toBe(7);
    expect([...first.history, ...second.history].map((r) => r.loss)).toEqual(expectedLosses);
    const resumed = await finalWeights(second);
    for (const [key, values] of expected) expect(resumed.get(key), key).toEqual(values);
    // metrics: one record per step of the whole run, none repeated by the resume
    expect(store.metrics.filter((r) => r.type === 'step').map((r) => r.step)).toEqual(expectedLosses.map((_, step) => step));
    second.dispose();
  });

  it('refuses an outDir (a page has no file system) before building anything', async () => {
    const tensorsBefore = tf.memory().numTensors;
    await expect(train({ ...options, method: registry.create('test:toy'), outDir: '/tmp/x' })).rejects.toMatchObject({
      code: 'invalid-config',
    });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(() => new MemoryRunStore({ keepCheckpoints: -1 })).toThrow(/keepCheckpoints/);
  });
});
