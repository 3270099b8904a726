import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TENSORS_FILE, latestCheckpoint } from './checkpoint';
import { useTestBackend } from './fixtures/backend';
import { toyDataset, toyEncoder, toyRegistry } from './fixtures/toy-method';
import { train } from './trainer';
import type { TrainOptions } from './trainer';

beforeAll(useTestBackend);

const toyRun = (extra: Partial<TrainOptions> = {}): TrainOptions => ({
  method: toyRegistry().create('test:toy'),
  data: toyDataset(),
  encoder: toyEncoder,
  epochs: 1,
  batchSize: 8,
  seed: 7,
  ...extra,
});

const shapesOf = (variables: ReadonlyMap<string, { shape: number[] }>) =>
  Object.fromEntries([...variables].map(([key, v]) => [key, v.shape]));

describe('checkpoint keys', () => {
  it('name every tensor by network, layer class and position, and weight, identically in two builds and in another process', async () => {
    const first = await train(toyRun({ maxSteps: 1 }));
    const second = await train(toyRun({ maxSteps: 1 }));
    const keys = [...first.variables.keys()];
    try {
      // The second build's tfjs layer names differ (global counters); the keys do not.
      expect(first.runtime.encoder.model.layers[1].name).not.toBe(second.runtime.encoder.model.layers[1].name);
      expect([...second.variables.keys()]).toEqual(keys);
      expect(keys).toEqual(
        expect.arrayContaining([
          'trainable/encoder/conv2d_0/kernel',
          'trainable/encoder/batch_normalization_1/moving_variance',
          'trainable/head/dense_0/bias',
          'frozen/teacher/conv2d_0/kernel',
          'state/queue',
          'optimizer/step',
          'optimizer/encoder/conv2d_0/kernel/momentum',
        ]),
      );
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys.filter((k) => /\/\d+$|weight_\d+$/.test(k))).toEqual([]);

      // A child process (tsx, fresh globals) writes the same keys with the same shapes.
      const outDir = mkdtempSync(join(tmpdir(), 'ssl-keys-'));
      const child = join(import.meta.dirname, 'fixtures', 'resume-child.ts');
      const run = spawnSync(process.execPath, ['--conditions=@ssl/source', '--import', 'tsx', child, outDir, '-1', 'fresh'], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(run.status, run.stderr).toBe(0);
      const checkpoint = latestCheckpoint(join(outDir, 'checkpoints'))!;
      expect(shapesOf(checkpoint.tensors)).toEqual(shapesOf(first.variables));

      // What Python sees of it: the same names and shapes.
      if (spawnSync('python3', ['--version']).status !== 0) {
        console.log('skipped the Python read: python3 is not installed (CI installs it)');
        return;
      }
      const reader = join(import.meta.dirname, 'fixtures', 'read_safetensors.py');
      const read = spawnSync('python3', [reader, join(checkpoint.path, TENSORS_FILE)], { encoding: 'utf8' });
      expect(read.status, read.stderr).toBe(0);
      const listed = read.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { key?: string; shape?: number[] })
        .filter((l) => l.key !== undefined);
      expect(Object.fromEntries(listed.map((l) => [l.key, l.shape]))).toEqual(shapesOf(first.variables));
    } finally {
      first.dispose();
      second.dispose();
    }
  });
});

describe('resuming past a damaged checkpoint', () => {
  it('moves the damaged newest checkpoint aside, says why, and resumes from the previous one to the same end state', async () => {
    const straightDir = mkdtempSync(join(tmpdir(), 'ssl-damage-straight-'));
    const straight = await train(toyRun({ outDir: straightDir, checkpointEvery: { steps: 2 } }));
    straight.dispose();
    const dir = mkdtempSync(join(tmpdir(), 'ssl-damage-'));
    // Stopped after 4 of 6 steps (an abort, not maxSteps, which would shorten the schedule).
    const stop = new AbortController();
    const callbacks = [{ name: 'stop', onStepEnd: (r: { step: number }) => void (r.step === 3 && stop.abort()) }];
    const first = await train(toyRun({ outDir: dir, checkpointEvery: { steps: 2 }, signal: stop.signal, callbacks }));
    expect(first.interrupted).toBe(true);
    first.dispose();
    // Same size, one float overwritten with NaN: only the hash can tell.
    const file = join(dir, 'checkpoints', 'step-00000004', TENSORS_FILE);
    const bytes = readFileSync(file);
    bytes.writeFloatLE(Number.NaN, bytes.byteLength - 4);
    writeFileSync(file, bytes);

    const warnings: string[] = [];
    const resumed = await train(toyRun({ outDir: dir, checkpointEvery: { steps: 2 }, resume: true, onWarning: (m) => warnings.push(m) }));
    try {
      expect(resumed.resumedFromStep).toBe(2);
      expect(warnings).toEqual([
        expect.stringMatching(
          /^checkpoint step 4 is damaged \(tensors\.safetensors does not match its SHA-256.*\); moved it to checkpoints\/step-00000004\.damaged and resuming from step 2\.$/,
        ),
      ]);
      expect(resumed.warnings).toEqual(warnings);
      expect(existsSync(join(dir, 'checkpoints', 'step-00000004.damaged'))).toBe(true);
      const a = latestCheckpoint(join(straightDir, 'checkpoints'))!;
      const b = latestCheckpoint(join(dir, 'checkpoints'))!;
      expect(b.manifest.step).toBe(a.manifest.step);
      for (const [key, tensor] of a.tensors) expect(Array.from(b.tensors.get(key)!.values), key).toEqual(Array.from(tensor.values));
      const steps = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((r) => r.type === 'step')
        .map((r) => r.step);
      expect(steps).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      resumed.dispose();
    }
  });

  it('fails with SslError("checkpoint") naming each checkpoint and what is wrong when none verifies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssl-damage-all-'));
    (await train(toyRun({ outDir: dir, checkpointEvery: { steps: 2 }, maxSteps: 4 }))).dispose();
    truncateSync(join(dir, 'checkpoints', 'step-00000004', TENSORS_FILE), 100);
    writeFileSync(join(dir, 'checkpoints', 'step-00000002', 'manifest.json'), '{"format": "ssl-chec');
    const promise = train(toyRun({ outDir: dir, resume: true, onWarning: () => {} }));
    await expect(promise).rejects.toMatchObject({ code: 'checkpoint' });
    await expect(promise).rejects.toThrow(
      /no checkpoint in .* verifies: step 4 \(tensors\.safetensors is truncated.*\); step 2 \(manifest\.json is not valid JSON/,
    );
  });

  it('refuses to resume a run of @ssl/core 0.1 (checkpoint format 1) and says what to do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssl-resume-v1-'));
    const step = join(dir, 'checkpoints', 'step-00000004');
    mkdirSync(step, { recursive: true });
    writeFileSync(join(step, 'tensors.bin'), Buffer.alloc(8));
    writeFileSync(
      join(step, 'manifest.json'),
      JSON.stringify({ format: 'ssl-checkpoint', formatVersion: 1, step: 4, meta: {}, tensors: [] }),
    );
    const promise = train(toyRun({ outDir: dir, resume: true, onWarning: () => {} }));
    await expect(promise).rejects.toMatchObject({ code: 'checkpoint' });
    await expect(promise).rejects.toThrow(
      /step 4 \(format version 1 of @ssl\/core 0\.1, which this version no longer reads: finish that run with @ssl\/core 0\.1\.x\)/,
    );
  });
});
