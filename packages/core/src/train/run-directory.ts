import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Variable } from '@tensorflow/tfjs-core';
import { SslError } from '../errors';
import type { MethodRuntime } from '../method';
import type { Encoder, EncoderSpec } from '../nn';
import { saveEncoder } from '../nn';
import { describeDamage, findCheckpoint, restoreVariables, saveCheckpoint } from './checkpoint';
import type { JsonValue } from './checkpoint';
import { prepareOutputDirectorySync } from './output-directory';
import { saveProducts } from './products';
import type { RunStore, StoredCheckpoint } from './run-store';
import { acquireRunLock, releaseRunLock } from './run-lock';

/**
 * Where a run keeps config.json, metrics.jsonl and checkpoints/; a run without outDir writes nothing. The
 * directory is the run's while it is open: run.lock names this process, and a second run there is refused.
 */
export class RunDirectory implements RunStore {
  private lastCheckpointStep = -1;
  private locked = false;

  constructor(
    readonly outDir: string | undefined,
    private readonly keepCheckpoints = 2,
  ) {
    if (!outDir) return;
    prepareOutputDirectorySync(outDir);
    acquireRunLock(outDir);
    this.locked = true;
  }

  get location(): string {
    return this.outDir ?? '';
  }

  /** Gives the directory up (removes run.lock unless the caller, e.g. the CLI, still holds it). */
  release(): void {
    if (this.outDir && this.locked) releaseRunLock(this.outDir);
    this.locked = false;
  }

  /** Whether this run already wrote the checkpoint of this step (writing it again is a no-op). */
  hasCheckpointAt(stepsDone: number): boolean {
    return !this.checkpointDir || stepsDone === this.lastCheckpointStep;
  }

  private get checkpointDir(): string | undefined {
    return this.outDir && join(this.outDir, 'checkpoints');
  }

  private get metricsPath(): string | undefined {
    return this.outDir && join(this.outDir, 'metrics.jsonl');
  }

  /**
   * The newest checkpoint that verifies, or undefined when there is none. Newer damaged ones are moved aside
   * to `step-<n>.damaged` (kept for inspection, never pruned or resumed) with a warning naming what was
   * wrong; when checkpoints exist but none verifies, resuming fails rather than silently starting over.
   */
  resumeCheckpoint(warn: (message: string) => void): StoredCheckpoint | undefined {
    if (!this.checkpointDir) return undefined;
    const { checkpoint, damaged } = findCheckpoint(this.checkpointDir);
    if (!checkpoint) {
      if (damaged.length === 0) return undefined;
      throw new SslError(
        'checkpoint',
        `Cannot resume: no checkpoint in ${this.checkpointDir} verifies: ${describeDamage(damaged)}. Start the run again in another directory.`,
        { details: { damaged } },
      );
    }
    for (const bad of damaged) {
      let aside = `${bad.path}.damaged`;
      for (let k = 1; existsSync(aside); k++) aside = `${bad.path}.damaged-${k}`;
      renameSync(bad.path, aside);
      warn(
        `checkpoint step ${bad.step} is damaged (${bad.reason}); moved it to ${relative(this.outDir ?? '.', aside)} and resuming from step ${checkpoint.manifest.step}.`,
      );
    }
    return {
      step: checkpoint.manifest.step,
      meta: checkpoint.manifest.meta,
      location: checkpoint.path,
      restore: (variables) => restoreVariables(checkpoint, variables),
    };
  }

  writeConfig(config: unknown): void {
    if (this.outDir) writeJsonAtomic(join(this.outDir, 'config.json'), config);
  }

  /** A fresh run starts an empty metrics.jsonl; a resumed one drops the records of steps after its checkpoint. */
  startMetrics(resumedFromStep: number | undefined): void {
    const path = this.metricsPath;
    if (!path) return;
    if (resumedFromStep === undefined) writeFileSync(path, '');
    else truncateMetrics(path, resumedFromStep - 1);
  }

  appendMetrics(record: Record<string, unknown>): void {
    if (this.metricsPath) appendFileSync(this.metricsPath, `${JSON.stringify(record)}\n`);
  }

  /** Saves every variable after `stepsDone` steps, once per step count. */
  writeCheckpoint(stepsDone: number, variables: ReadonlyMap<string, Variable>, meta: { [key: string]: JsonValue }): void {
    if (!this.checkpointDir || stepsDone === this.lastCheckpointStep) return;
    this.lastCheckpointStep = stepsDone;
    saveCheckpoint(this.checkpointDir, stepsDone, variables, meta, { keepLast: this.keepCheckpoints });
  }

  /**
   * Writes `encoder/` (the representation, in the standard LayersModel format, for anyone who wants only the
   * encoder) and the method's other products (a classifier, a text tower, a tokenizer...), which
   * loadRun(outDir) brings back.
   */
  async saveOutputs(runtime: MethodRuntime, info: { method: string; step: number; interrupted: boolean }): Promise<void> {
    if (!this.outDir) return;
    const encoder = runtime.encoder as Encoder & { readonly spec?: EncoderSpec };
    if (encoder.spec) await saveEncoder(encoder as Encoder & { readonly spec: EncoderSpec }, `${this.outDir}/encoder`);
    await saveProducts(this.outDir, runtime, info);
  }
}

function writeJsonAtomic(path: string, value: unknown): void {
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, JSON.stringify(value, null, 2));
  renameSync(temp, path);
}

/** Keeps metrics.jsonl consistent with a resumed run: drops records of steps after the checkpoint. */
function truncateMetrics(path: string, lastStep: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => {
      if (!line.trim()) return false;
      try {
        const record = JSON.parse(line) as { step?: number };
        return record.step === undefined || record.step <= lastStep;
      } catch {
        return false; // a line torn by a kill mid-write
      }
    });
  writeFileSync(path, kept.map((l) => `${l}\n`).join(''));
}
