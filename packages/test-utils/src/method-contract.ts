import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { backendInfo, createRegistry, initBackend, latestCheckpoint } from '@ssl/core';
import type { EncoderSpec, KnownMethodName, MethodConfigs, PartialConfig, Plugin, StepRecord, TrainResult } from '@ssl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractData, trainContractRun } from './contract-run';
import type { ContractRun, DataRecipe } from './contract-run';
import type { ResumeChildArgs } from './method-contract-child';

/*
 * The contract every method of every package passes, as one call in its test file:
 *   describeMethodContract({ plugin: contrastive, pluginModule: new URL('../index.ts', import.meta.url),
 *     method: 'contrastive:simclr', config, data, encoder, batchSize, steps, invalidConfigs });
 * It registers: registration through the plugin factory; config validation naming the field; finite loss
 * and metrics with a flat tensor count; same seed → same loss curve, another seed → another; and SIGKILL +
 * resume equal to an uninterrupted run. Runs on single-threaded wasm, the backend on which reruns are bit-exact.
 */

/** Config as a method test writes it: typed by the method's entry in `MethodConfigs`. */
type ConfigOf<Id extends string> = Id extends KnownMethodName ? PartialConfig<MethodConfigs[Id]> : Readonly<Record<string, unknown>>;

export interface MethodContractOptions<Id extends string = string> {
  /** The package's plugin factory, as users call it: `createRegistry().use(plugin())`. */
  readonly plugin: () => Plugin;
  /**
   * The module exporting that factory, for the resume test's child process (which cannot receive a
   * function): usually `new URL('../index.ts', import.meta.url)` from the method's test file.
   */
  readonly pluginModule: URL | string;
  /** The factory's export name in `pluginModule`; default 'default'. */
  readonly pluginExport?: string;
  /** '<family>:<method>' */
  readonly method: Id;
  /** A tiny config (small heads and decoders); JSON only, since the child process receives it too. */
  readonly config?: ConfigOf<Id>;
  /** Tiny data as a recipe, built the same way in the test and in the child. */
  readonly data: DataRecipe;
  /**
   * A tiny image encoder, e.g. a CNN with channels [8, 16] or a one-block ViT; none for data without images (a text
   * corpus, audio–text pairs), whose methods build their own encoders.
   */
  readonly encoder?: EncoderSpec;
  readonly batchSize: number;
  /** Steps per run: at least 4 (the tensor count is compared from the second step on; resume kills mid-run). */
  readonly steps: number;
  /**
   * Epochs of each round; default `steps` (one round fills the run). A multi-round method sets it so that
   * its rounds fit in `steps` and the resume test's kill (after step steps − 2) lands in a later round.
   */
  readonly epochs?: number;
  /** Bad configs, each of which must throw SslError('invalid-config') whose message names `field`. */
  readonly invalidConfigs: ReadonlyArray<{ readonly config: Readonly<Record<string, unknown>>; readonly field: string }>;
  /** Further configs that reach other code paths (another head, augmentation on): finite loss and flat tensor count for each. */
  readonly moreConfigs?: ReadonlyArray<ConfigOf<Id>>;
  /**
   * Method-specific checks of a finished run (bounds of the loss or of a metric, a prediction API on
   * `result.runtime`), called before the run is disposed, for `config` and each of `moreConfigs`.
   */
  readonly checkRun?: (result: TrainResult) => void | Promise<void>;
  /** Two different seeds; default [1, 2]. */
  readonly seeds?: readonly [number, number];
  /** Timeout of the resume test in ms (three runs, two of them in child processes); default 300 000. */
  readonly resumeTimeout?: number;
}

const CHILD = join(import.meta.dirname, 'method-contract-child.ts');
const CHECKPOINT_EVERY = 2;

export function describeMethodContract<Id extends string>(options: MethodContractOptions<Id>): void {
  const { method, plugin, steps, invalidConfigs } = options;
  if (!(Number.isInteger(steps) && steps >= 4))
    throw new Error(`describeMethodContract(${method}): steps must be an integer ≥ 4, got ${steps}.`);
  if (invalidConfigs.length === 0)
    throw new Error(`describeMethodContract(${method}): give at least one invalid config and the field it must name.`);
  const [seed, otherSeed] = options.seeds ?? [1, 2];
  const run = (config: object = options.config ?? {}, runSeed = seed): ContractRun => ({
    pluginModule: options.pluginModule instanceof URL ? options.pluginModule.href : options.pluginModule,
    pluginExport: options.pluginExport ?? 'default',
    method,
    config: config as Record<string, unknown>,
    data: options.data,
    ...(options.encoder ? { encoder: options.encoder } : {}),
    batchSize: options.batchSize,
    steps,
    ...(options.epochs === undefined ? {} : { epochs: options.epochs }),
    seed: runSeed,
  });
  const create = (config: object) =>
    createRegistry()
      .use(plugin())
      .create(method as never, config as never);
  const trainRun = async (spec: ContractRun, extra: Parameters<typeof trainContractRun>[3] = {}) =>
    trainContractRun(create(spec.config), await contractData(spec.data), spec, extra);

  describe(`${method}: method contract`, () => {
    beforeAll(async () => {
      await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
      const info = backendInfo();
      // initBackend keeps the first call's choice: a test file that chose another backend must not pass silently.
      if (info?.name !== 'wasm' || info.threads !== 1) {
        throw new Error(
          `the method contract needs single-threaded wasm for bit-exact reruns, but this file initialized ${info?.name} with ${info?.threads} threads`,
        );
      }
    }, 60_000);

    it(`registers ${method} through the plugin factory; registering the plugin again is a no-op`, () => {
      const registry = createRegistry().use(plugin()).use(plugin());
      expect(registry.list().filter((m) => m.id === method)).toHaveLength(1);
      expect(registry.create(method as never).id).toBe(method);
      const same = plugin();
      expect(() => createRegistry().use(same).use(same)).not.toThrow();
    });

    it('rejects each invalid config with an invalid-config SslError that names the field', () => {
      const registry = createRegistry().use(plugin());
      for (const { config, field } of invalidConfigs) {
        let caught: unknown;
        try {
          registry.create(method as never, config);
        } catch (error) {
          caught = error;
        }
        expect(caught, `${JSON.stringify(config)} was accepted`).toBeInstanceOf(Error);
        expect((caught as Error).name, field).toBe('SslError');
        expect((caught as { code?: string }).code, field).toBe('invalid-config');
        expect((caught as Error).message).toContain(field);
      }
    });

    const baseConfig = options.config ?? {};
    for (const config of [baseConfig, ...(options.moreConfigs ?? [])]) {
      const label = config === baseConfig ? '' : ` (config ${JSON.stringify(config)})`;
      it(`trains ${steps} steps with a finite loss and metrics, a flat tensor count after the first step, and dispose() frees it all${label}`, async () => {
        const counts: { epoch: number; tensors: number }[] = [];
        const before = tf.memory().numTensors;
        const result = await trainRun(run(config), {
          callbacks: [
            { name: 'tensor-count', onStepEnd: (record) => void counts.push({ epoch: record.epoch, tensors: tf.memory().numTensors }) },
          ],
        });
        try {
          expect(result.history).toHaveLength(steps);
          for (const record of result.history) {
            expect(Number.isFinite(record.loss), `loss at step ${record.step}`).toBe(true);
            for (const [name, value] of Object.entries(record.metrics))
              expect(Number.isFinite(value), `${name} at step ${record.step}`).toBe(true);
          }
          // After the first step of each round every step frees what it makes. A round may hold other
          // networks (a greedy layer's smaller optimizer), so counts are compared within a round; what a
          // hand-over leaks still shows in the dispose() check below.
          const epochsPerRound = options.epochs ?? steps;
          const rounds = new Map<number, number[]>();
          for (const { epoch, tensors } of counts) {
            const round = Math.floor(epoch / epochsPerRound);
            rounds.set(round, [...(rounds.get(round) ?? []), tensors]);
          }
          for (const [round, inRound] of rounds) {
            const after = inRound.slice(1);
            expect(after, `tensors after each step of round ${round}`).toEqual(after.map(() => after[0]));
          }
          await options.checkRun?.(result);
        } finally {
          result.dispose();
        }
        expect(tf.memory().numTensors, 'tensors left after result.dispose()').toBe(before);
      });
    }

    it('gives the same loss curve for the same seed and another curve for another seed', async () => {
      const curve = async (runSeed: number) => {
        const result = await trainRun(run(undefined, runSeed));
        const losses = result.history.map((r) => r.loss);
        result.dispose();
        return losses;
      };
      const first = await curve(seed);
      expect(first).toHaveLength(steps);
      expect(await curve(seed)).toEqual(first);
      expect(await curve(otherSeed)).not.toEqual(first);
    });

    const dirs: string[] = [];
    afterAll(() => {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    it(
      'resumes a run killed with SIGKILL to the exact losses and weights of an uninterrupted run',
      async () => {
        const spec = run();
        const straightDir = mkdtempSync(join(tmpdir(), 'ssl-contract-straight-'));
        const killedDir = mkdtempSync(join(tmpdir(), 'ssl-contract-killed-'));
        dirs.push(straightDir, killedDir);
        // Killed after the step before last: the newest checkpoint is older, so resuming redoes steps.
        const killAfterStep = steps - 2;
        const killed = runChild({ run: spec, outDir: killedDir, checkpointEvery: CHECKPOINT_EVERY, killAfterStep, resume: false });
        // The uninterrupted run, in this process, while the child trains.
        const straight = await trainRun(spec, { outDir: straightDir, checkpointEvery: { steps: CHECKPOINT_EVERY } });
        const expected = straight.history.map(curvePoint);
        straight.dispose();

        const first = await killed;
        expect(first.signal, first.stderr).toBe('SIGKILL');
        const resumed = await runChild({ run: spec, outDir: killedDir, checkpointEvery: CHECKPOINT_EVERY, resume: true });
        expect(resumed.code, resumed.stderr).toBe(0);
        const done = resumed.lines.find((line) => 'done' in line)?.done as { steps: number; resumedFromStep: number | null } | undefined;
        expect(done?.steps).toBe(steps);
        const from = done?.resumedFromStep ?? 0;
        expect(from, 'the resumed run started from a checkpoint').toBeGreaterThan(0);
        expect(from).toBeLessThanOrEqual(killAfterStep + 1);

        // The loss curve as if the run had never stopped: steps before the checkpoint from the killed run, the rest from the resumed one.
        const stepsOf = (lines: ChildLine[]) => lines.filter((line) => 'step' in line) as unknown as CurvePoint[];
        const curve = [...stepsOf(first.lines).filter((p) => p.step < from), ...stepsOf(resumed.lines)];
        expect(
          curve.map((p) => p.loss),
          'losses',
        ).toEqual(expected.map((p) => p.loss));
        expect(curve).toEqual(expected);

        // Every saved variable (networks, optimizer slots, method state) bit for bit.
        const a = latestCheckpoint(join(straightDir, 'checkpoints'));
        const b = latestCheckpoint(join(killedDir, 'checkpoints'));
        expect(a?.manifest.step).toBe(steps);
        expect(b?.manifest.step).toBe(steps);
        expect([...b!.tensors.keys()]).toEqual([...a!.tensors.keys()]);
        for (const [key, tensor] of a!.tensors) expect(Array.from(b!.tensors.get(key)!.values), key).toEqual(Array.from(tensor.values));
      },
      options.resumeTimeout ?? 300_000,
    );
  });
}

interface CurvePoint {
  step: number;
  loss: number;
  metrics: Record<string, number>;
}

type ChildLine = Record<string, unknown>;

function curvePoint(record: StepRecord): CurvePoint {
  return { step: record.step, loss: record.loss, metrics: { ...record.metrics } };
}

/** Runs the child with tsx and the @ssl/source condition (workspace sources, no build), as core's trainer test does. */
function runChild(
  args: ResumeChildArgs,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; lines: ChildLine[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=@ssl/source', '--import', 'tsx', CHILD, JSON.stringify(args)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const lines = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as ChildLine];
          } catch {
            return []; // a line cut by the kill
          }
        });
      resolve({ code, signal, lines, stderr });
    });
  });
}
