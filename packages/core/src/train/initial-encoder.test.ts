import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEncoder } from '../nn/create-encoder';
import type { Encoder } from '../nn/encoder';
import { latestCheckpoint } from './checkpoint';
import { useTestBackend } from './fixtures/backend';
import { toyDataset, toyEncoder, toyMethod, toyPair, toyRegistry } from './fixtures/toy-method';
import type { tfl } from './fixtures/tfl';
import { defineMethod } from '../method';
import { definePlugin } from '../registry/plugin';
import { createRegistry } from '../registry/registry';
import { train } from './trainer';
import type { TrainOptions } from './run-loop';

beforeAll(useTestBackend);

const registry = toyRegistry();

function weightsOf(encoder: Encoder): number[][] {
  return encoder.model.weights.map((w) => Array.from(w.read().dataSync()));
}

/** An encoder of the toy run's architecture with other weights than any seed the run draws (a "pretrained" one). */
function pretrained(): Encoder {
  const encoder = createEncoder({ ...toyEncoder, seed: 12345 });
  tf.tidy(() => encoder.model.weights.forEach((w, i) => w.write(tf.add(w.read(), 0.01 * (i + 1)))));
  return encoder;
}

/** The toy method, recording the weights its networks were built with (before any step). */
const capture = defineMethod({
  ...toyMethod,
  name: 'capture',
  build(context) {
    const runtime = toyMethod.build(context);
    const read = (model: tfl.LayersModel) => model.weights.map((w) => Array.from(w.read().dataSync()));
    captured = { encoder: read(runtime.trainable.encoder), teacher: read(runtime.frozen!.teacher), head: read(runtime.trainable.head) };
    return runtime;
  },
});
let captured: Record<'encoder' | 'teacher' | 'head', number[][]> | undefined;
const captureRegistry = createRegistry().use(
  definePlugin({
    name: 'capture-plugin',
    version: '0.0.1',
    family: 'test',
    core: '>=0.0.0',
    methods: { capture },
    viewPolicies: { toyPair },
  }),
);

async function builtWeights(options: Partial<TrainOptions>): Promise<NonNullable<typeof captured>> {
  captured = undefined;
  const run = await train({ ...toyRun(options), method: captureRegistry.create('test:capture'), maxSteps: 1 });
  run.dispose();
  return captured!;
}

function toyRun(overrides: Partial<TrainOptions>): TrainOptions {
  return { method: registry.create('test:toy'), data: toyDataset(), encoder: toyEncoder, epochs: 1, batchSize: 8, ...overrides };
}

describe('train({ initialEncoder })', () => {
  it('builds every encoder of the method (the encoder and its teacher copy) with the given weights, heads as without it', async () => {
    const start = pretrained();
    const withStart = await builtWeights({ initialEncoder: { encoder: start, from: 'pretrained' } });
    const without = await builtWeights({});
    try {
      expect(withStart.encoder).toEqual(weightsOf(start));
      expect(withStart.teacher).toEqual(weightsOf(start));
      expect(without.encoder).not.toEqual(weightsOf(start));
      // The head is seeded as in a run without a start (the encoder's seed is drawn all the same).
      expect(withStart.head).toEqual(without.head);
    } finally {
      start.model.dispose();
    }
  });

  it('refuses an encoder of another architecture before step 0, naming initialEncoder and both shapes', async () => {
    const other = createEncoder({ ...toyEncoder, channels: [4, 16] });
    try {
      await expect(train(toyRun({ initialEncoder: { encoder: other, from: 'runs/other' } }))).rejects.toMatchObject({
        code: 'shape-mismatch',
        message: expect.stringMatching(
          /^initialEncoder \(runs\/other\) does not fit the run's encoder: its weights are \[3, 3, 1, 4\].*the run's \[3, 3, 1, 8\]/,
        ),
      });
    } finally {
      other.model.dispose();
    }
  });

  it('records the start in config.json, and a resume restores the trained weights instead of copying the start again', async () => {
    const start = pretrained();
    const initialEncoder = { encoder: start, from: 'runs/pretrained' };
    const straightDir = mkdtempSync(join(tmpdir(), 'ssl-initial-straight-'));
    (await train(toyRun({ initialEncoder, outDir: straightDir, checkpointEvery: { steps: 2 } }))).dispose();
    expect(JSON.parse(readFileSync(join(straightDir, 'config.json'), 'utf8')).initialEncoder).toBe('runs/pretrained');

    // Stopped after 4 of 6 steps, then resumed with the same start: the end state is the uninterrupted run's
    // bit for bit, which it would not be if the start were copied over the checkpoint's trained encoder.
    const dir = mkdtempSync(join(tmpdir(), 'ssl-initial-resume-'));
    const stop = new AbortController();
    const callbacks = [{ name: 'stop', onStepEnd: (r: { step: number }) => void (r.step === 3 && stop.abort()) }];
    const first = await train(toyRun({ initialEncoder, outDir: dir, checkpointEvery: { steps: 2 }, signal: stop.signal, callbacks }));
    expect(first.interrupted).toBe(true);
    first.dispose();
    const resumed = await train(toyRun({ initialEncoder, outDir: dir, checkpointEvery: { steps: 2 }, resume: true }));
    try {
      expect(resumed.resumedFromStep).toBe(4);
      const encoderKey = 'trainable/encoder/conv2d_0/kernel';
      expect(Array.from(resumed.variables.get(encoderKey)!.dataSync())).not.toEqual(Array.from(start.model.weights[0].read().dataSync()));
      const a = latestCheckpoint(join(straightDir, 'checkpoints'))!;
      const b = latestCheckpoint(join(dir, 'checkpoints'))!;
      expect(b.manifest.step).toBe(6);
      for (const [key, tensor] of a.tensors) expect(Array.from(b.tensors.get(key)!.values), key).toEqual(Array.from(tensor.values));
    } finally {
      resumed.dispose();
    }
    // A resume without the start the run was begun with is refused, as any other difference.
    await expect(train(toyRun({ outDir: dir, checkpointEvery: { steps: 2 }, resume: true }))).rejects.toMatchObject({
      message: expect.stringContaining('initialEncoder: "runs/pretrained" → null'),
    });
    start.model.dispose();
  });
});
