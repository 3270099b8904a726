import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from './fixtures/backend';
import { toyDataset, toyEncoder, toyRegistry } from './fixtures/toy-method';
import { GradientNormWatch, globalNorm, nonFiniteNames } from './divergence-guard';
import { prepareOutputDirectory } from './output-directory';
import { RUN_LOCK_FILE, acquireRunLock, readRunLock, releaseRunLock } from './run-lock';
import { train } from './trainer';
import { imageDataset } from '../data';
import { defineMethod } from '../method';
import { definePlugin } from '../registry/plugin';
import { createRegistry } from '../registry/registry';

beforeAll(useTestBackend);

const registry = toyRegistry();
const toyRun = { data: toyDataset(), encoder: toyEncoder, batchSize: 8, seed: 1 } as const;

function steps(outDir: string): { type: string; step: number; epoch: number }[] {
  return readFileSync(join(outDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string; step: number; epoch: number });
}

describe('run.lock', () => {
  it('refuses a live owner by pid, takes over a dead one, and is removed on release', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssl-lock-'));
    const owner = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dir, RUN_LOCK_FILE), JSON.stringify({ pid: owner.pid, host: hostname(), startedAt: 'x' }));
      expect(() => acquireRunLock(dir)).toThrow(
        expect.objectContaining({ code: 'locked', message: expect.stringContaining(`pid ${owner.pid}`) }),
      );
    } finally {
      owner.kill('SIGKILL');
    }
    // A process that has exited: its pid is free, so its lock is stale.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(dir, RUN_LOCK_FILE), JSON.stringify({ pid: Number(dead.stdout), host: hostname(), startedAt: 'x' }));
    acquireRunLock(dir);
    expect(readRunLock(dir)?.pid).toBe(process.pid);
    acquireRunLock(dir); // re-entrant: the CLI holds it, then train() takes it again
    releaseRunLock(dir);
    expect(existsSync(join(dir, RUN_LOCK_FILE))).toBe(true);
    releaseRunLock(dir);
    expect(existsSync(join(dir, RUN_LOCK_FILE))).toBe(false);
  });

  it('a train() in a directory another process owns fails before writing anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssl-lock-train-'));
    const owner = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dir, RUN_LOCK_FILE), JSON.stringify({ pid: owner.pid, host: hostname(), startedAt: 'x' }));
      await expect(train({ method: registry.create('test:toy'), ...toyRun, epochs: 1, outDir: dir })).rejects.toMatchObject({
        code: 'locked',
      });
      expect(readdirSync(dir)).toEqual([RUN_LOCK_FILE]);
    } finally {
      owner.kill('SIGKILL');
    }
  });
});

describe('output directory', () => {
  it('refuses a pseudo file system and a path under a file quickly, creating nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssl-out-'));
    writeFileSync(join(dir, 'file'), '');
    const started = performance.now();
    await expect(prepareOutputDirectory('/proc/ssl-test/run')).rejects.toMatchObject({
      code: 'io',
      message: expect.stringContaining('pseudo file system'),
    });
    await expect(prepareOutputDirectory('/sys/ssl-test')).rejects.toMatchObject({ code: 'io' });
    await expect(prepareOutputDirectory(join(dir, 'file', 'run'))).rejects.toMatchObject({
      message: expect.stringContaining('is a file, not a directory'),
    });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(readdirSync(dir)).toEqual(['file']);
    await prepareOutputDirectory(join(dir, 'a', 'b'));
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual([]); // the probe file is gone
  });
});

describe('resume checks the run saved in the directory', () => {
  it('refuses other options naming each, and extends epochs only with extend, keeping one record per step', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'ssl-resume-check-'));
    (await train({ method: registry.create('test:toy'), ...toyRun, epochs: 1, outDir })).dispose();
    const configBefore = readFileSync(join(outDir, 'config.json'), 'utf8');
    const again = (options: object) =>
      train({ method: registry.create('test:toy'), ...toyRun, epochs: 1, outDir, resume: true, ...options });
    await expect(again({ batchSize: 4, seed: 2 })).rejects.toThrow(/batchSize: 8 → 4; seed: 1 → 2/);
    await expect(again({ epochs: 2 })).rejects.toThrow(/epochs: 1 → 2.*extend: true/);
    expect(readFileSync(join(outDir, 'config.json'), 'utf8')).toBe(configBefore);
    const extended = await again({ epochs: 2, extend: true });
    expect(extended.resumedFromStep).toBe(6);
    expect(extended.steps).toBe(12);
    extended.dispose();
    const records = steps(outDir);
    expect(records.filter((r) => r.type === 'step').map((r) => r.step)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(records.filter((r) => r.type === 'epoch').map((r) => r.epoch)).toEqual([0, 1]);
    expect(JSON.parse(readFileSync(join(outDir, 'config.json'), 'utf8')).epochs).toBe(2);
  });
});

describe('divergence guard', () => {
  it('finds NaN and Inf tensors with one reduction', () => {
    const tensors = {
      finite: tf.tensor([1e30, -3]),
      nan: tf.tensor([1, NaN]),
      inf: tf.tensor([Infinity]),
      ints: tf.tensor([1], [1], 'int32'),
    };
    expect(nonFiniteNames(tensors)).toEqual(['nan', 'inf']);
    tf.dispose(Object.values(tensors));
  });

  it('checks before every checkpoint: a NaN weight stops the run with `diverged`, keeping the last good checkpoint and saving no encoder', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'ssl-diverged-'));
    const promise = train({
      method: registry.create('test:toy'),
      ...toyRun,
      epochs: 3,
      outDir,
      checkpointEvery: { steps: 4, epochs: 1 },
      guard: { everySteps: 1000 }, // only the check before the checkpoint can see it
      callbacks: [
        {
          // Weights gone non-finite at the end of epoch 0 (step 6), right before its checkpoint.
          name: 'poison',
          onEpochEnd: ({ encoder }) => {
            const weight = encoder.model.trainableWeights[0];
            weight.write(tf.fill(weight.shape as number[], NaN));
          },
        },
      ],
    });
    await expect(promise).rejects.toMatchObject({
      code: 'diverged',
      message: expect.stringMatching(/diverged at step 6: the parameters are no longer finite/),
    });
    expect(existsSync(join(outDir, 'encoder'))).toBe(false);
    expect(readdirSync(join(outDir, 'checkpoints'))).toEqual(['step-00000004']);
    expect(existsSync(join(outDir, RUN_LOCK_FILE))).toBe(false);
  });

  it('measures the global gradient norm as √Σ‖g‖² and warns once when it explodes 1000× above its median', () => {
    const tensors = { a: tf.tensor([3, 0]), b: tf.tensor([[4]]), ids: tf.tensor([100], [1], 'int32') };
    expect(globalNorm(tensors)).toBeCloseTo(5, 6);
    tf.dispose(Object.values(tensors));

    const warnings: string[] = [];
    const watch = new GradientNormWatch((message) => warnings.push(message));
    // A first large norm cannot be judged (no history); 333× the median (step 4) is noisy training, not an explosion.
    for (const [step, norm] of [5e6, 1, 2, 3, 1000, 2.5e3, 5e6, 1e8].entries()) watch.record(norm, { step, lr: 0.1 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^the gradient norm exploded at step 6 \(lr 0\.100\): 5\.00e\+6, 5000× its median so far \(1\.00e\+3\)/);

    // A new round trains other networks: its norms are judged against its own, not the last round's.
    const perRound: string[] = [];
    const rounds = new GradientNormWatch((message) => perRound.push(message));
    for (const [step, norm] of [1e-3, 2e-3, 1e-3, 3e-3].entries()) rounds.record(norm, { step, lr: 0.1, round: 0 });
    for (const [step, norm] of [5, 6, 4, 5].entries()) rounds.record(norm, { step: 4 + step, lr: 0.1, round: 1 });
    expect(perRound).toEqual([]);
  });

  it('reports a finite gradient explosion of a real run as a warning, without stopping it', async () => {
    const warnings: string[] = [];
    const result = await train({
      method: registry.create('test:toy'),
      ...toyRun,
      epochs: 2,
      guard: { everySteps: 1 },
      onWarning: (message) => warnings.push(message),
      callbacks: [
        {
          // Every weight ×30 after epoch 0 (steps 0–5): the gradients grow by orders of magnitude and stay finite.
          name: 'blow-up',
          onEpochEnd: ({ epoch, encoder }) => {
            if (epoch > 0) return;
            for (const weight of encoder.model.trainableWeights) weight.write(tf.tidy(() => tf.mul(weight.read(), 30)));
          },
        },
      ],
    });
    expect(result.steps).toBe(12);
    expect(warnings).toHaveLength(1);
    // Within a step of the blow-up (the first step after it is still within 1000× of the median).
    expect(warnings[0]).toMatch(/^the gradient norm exploded at step [67] /);
    expect(result.warnings).toEqual(warnings);
    result.dispose();
  });

  it("skips the collapse probe for an encoder that sees a channel the method derives (colorization's L), instead of failing", async () => {
    // RGB data, a grey encoder: the method feeds it the channel mean, as colorization feeds its encoder L.
    const grey = defineMethod<Record<string, never>, 'unlabeled'>({
      name: 'grey',
      description: 'test method: features of the channel mean',
      data: 'unlabeled',
      defaults: {},
      views: () => ({ unlabeled: 'none' }),
      build({ createEncoder }) {
        const encoder = createEncoder();
        return {
          encoder,
          trainable: { encoder: encoder.model },
          step: (batch) => ({
            loss: tf.mean(tf.square(encoder.features(tf.mean(batch.images, 3, true) as tf.Tensor4D, { training: true }))) as tf.Scalar,
          }),
        };
      },
    });
    const registry = createRegistry().use(
      definePlugin({ name: 'grey-test', version: '0.0.1', family: 'test', core: '>=0.0.0', methods: { grey } }),
    );
    const rgb = imageDataset({
      images: Uint8Array.from({ length: 16 * 12 * 12 * 3 }, (_, i) => (i * 37) % 251),
      shape: [12, 12, 3],
      name: 'rgb',
    });
    const result = await train({
      method: registry.create('test:grey'),
      data: rgb,
      encoder: { ...toyEncoder, inputShape: [12, 12, 1] },
      batchSize: 8,
      epochs: 2,
      guard: { collapseEverySteps: 1 },
    });
    expect(result.steps).toBe(4);
    result.dispose();
  });

  it('stops a collapsed run with `collapsed` after the patience, not at the first low check', async () => {
    const checks: number[] = [];
    // A threshold every output falls below makes every check a collapsed one: the guard must wait for 3.
    const promise = train({
      method: registry.create('test:toy'),
      ...toyRun,
      epochs: 3,
      guard: { collapseStd: 10, collapseEverySteps: 2, collapsePatience: 3 },
      callbacks: [{ name: 'steps', onStepEnd: (r) => void checks.push(r.step) }],
    });
    await expect(promise).rejects.toMatchObject({ code: 'collapsed', message: expect.stringMatching(/from step 2 to step 6/) });
    expect(checks.at(-1)).toBe(5);
  });
});
