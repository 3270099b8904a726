import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { SslError } from '../errors';
import { latestCheckpoint } from './checkpoint';
import { useTestBackend } from './fixtures/backend';
import { toyDataset, toyEncoder, toyRegistry } from './fixtures/toy-method';
import { train } from './trainer';

beforeAll(useTestBackend);

const registry = toyRegistry();

describe('trainer', () => {
  it('keeps tf.memory().numTensors flat between step 5 and step 50', async () => {
    const counts: number[] = [];
    const result = await train({
      method: registry.create('test:toy'),
      data: toyDataset(),
      encoder: toyEncoder,
      epochs: 9,
      maxSteps: 51,
      batchSize: 8,
      callbacks: [{ name: 'count', onStepEnd: () => void counts.push(tf.memory().numTensors) }],
    });
    expect(counts[5]).toBe(counts[50]);
    expect(result.steps).toBe(51);
    result.dispose();
  });

  it('gives the same loss curve for the same seed and a different one for another seed', async () => {
    const run = async (seed: number) => {
      const result = await train({
        method: registry.create('test:toy'),
        data: toyDataset(),
        encoder: toyEncoder,
        epochs: 1,
        batchSize: 8,
        seed,
      });
      const losses = result.history.map((r) => r.loss);
      result.dispose();
      return losses;
    };
    const a = await run(3);
    const b = await run(3);
    const c = await run(4);
    expect(a).toHaveLength(6);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('stops with a non-finite-loss SslError naming the step', async () => {
    const promise = train({
      method: registry.create('test:toy', { nanAtStep: 2 }),
      data: toyDataset(),
      encoder: toyEncoder,
      epochs: 1,
      batchSize: 8,
    });
    await expect(promise).rejects.toMatchObject({ code: 'non-finite-loss' });
    await expect(promise).rejects.toThrow(/step 2/);
  });

  it('rejects an empty dataset and a batch larger than the data before training', async () => {
    const empty = { ...toyDataset(), size: 0, images: new Uint8Array(0), labels: new Int32Array(0) };
    await expect(train({ method: registry.create('test:toy'), data: empty, encoder: toyEncoder })).rejects.toMatchObject({ code: 'data' });
    await expect(train({ method: registry.create('test:toy'), data: toyDataset(), encoder: toyEncoder, batchSize: 100 })).rejects.toThrow(
      SslError,
    );
    await expect(
      train({ method: registry.create('test:toy'), data: toyDataset(), encoder: toyEncoder, batchSize: 0 }),
    ).rejects.toMatchObject({ code: 'invalid-config' });
  });

  it('resumes a run killed with SIGKILL mid-epoch to the exact state of an uninterrupted run', () => {
    const child = join(import.meta.dirname, 'fixtures', 'resume-child.ts');
    const node = (args: string[]) =>
      spawnSync(process.execPath, ['--conditions=@ssl/source', '--import', 'tsx', child, ...args], { encoding: 'utf8', timeout: 120_000 });
    const straight = mkdtempSync(join(tmpdir(), 'ssl-straight-'));
    const killed = mkdtempSync(join(tmpdir(), 'ssl-killed-'));
    expect(node([straight, '-1', 'fresh']).status).toBe(0);
    // 6 steps per epoch, checkpoints every 4 steps: killed after step 9 (mid-epoch 2), the newest checkpoint is step 8.
    const first = node([killed, '9', 'fresh']);
    expect(first.signal).toBe('SIGKILL');
    expect(latestCheckpoint(join(killed, 'checkpoints'))?.manifest.step).toBe(8);
    expect(node([killed, '-1', 'resume']).status).toBe(0);
    const a = latestCheckpoint(join(straight, 'checkpoints'))!;
    const b = latestCheckpoint(join(killed, 'checkpoints'))!;
    expect(b.manifest.step).toBe(18);
    // The finished run also leaves its encoder in the standard LayersModel format.
    expect(existsSync(join(straight, 'encoder', 'model.json'))).toBe(true);
    expect(a.manifest.step).toBe(18);
    const keys = [...a.tensors.keys()];
    expect(keys.some((k) => k.startsWith('frozen/teacher'))).toBe(true);
    expect(keys.some((k) => k.startsWith('optimizer/'))).toBe(true);
    expect(keys).toContain('state/queue');
    for (const key of keys) expect(Array.from(b.tensors.get(key)!.values), key).toEqual(Array.from(a.tensors.get(key)!.values));
    // metrics.jsonl holds each step once, as if the run had never stopped.
    const steps = readFileSync(join(killed, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.type === 'step')
      .map((r) => r.step);
    expect(steps).toEqual(Array.from({ length: 18 }, (_, i) => i));
  });
});
