import * as tf from '@tensorflow/tfjs-core';
import type { Variable } from '@tensorflow/tfjs-core';
import { SslError, formatShape } from '../errors';
import type { MethodRuntime } from '../method';
import type { JsonValue } from './checkpoint';

/**
 * Where a run keeps what it writes: its config, its metrics, its checkpoints and, at the end, its encoder and
 * products. The trainer needs nothing else of a platform, so a run goes where its store goes: a directory on
 * disk in Node (`RunDirectory`, chosen by `outDir`), memory in a web page (`MemoryRunStore`), or anything a
 * user writes against this interface (IndexedDB, a server).
 */
export interface RunStore {
  /** Where the run is, in words (a path, `memory`); names the run in error messages. */
  readonly location: string;
  /** The newest checkpoint that can be resumed, or undefined for a fresh start. */
  resumeCheckpoint(warn: (message: string) => void): StoredCheckpoint | undefined;
  /** Whether this run already wrote the checkpoint of this step (writing it again is a no-op). */
  hasCheckpointAt(stepsDone: number): boolean;
  /** Saves every variable after `stepsDone` steps, once per step count. */
  writeCheckpoint(stepsDone: number, variables: ReadonlyMap<string, Variable>, meta: { [key: string]: JsonValue }): void;
  writeConfig(config: unknown): void;
  /** A fresh run starts empty metrics; a resumed one drops the records of steps after its checkpoint. */
  startMetrics(resumedFromStep: number | undefined): void;
  appendMetrics(record: Record<string, unknown>): void;
  /** Saves the trained encoder and the method's products at the end of a run. */
  saveOutputs(runtime: MethodRuntime, info: { method: string; step: number; interrupted: boolean }): Promise<void>;
  /** Gives the store up when the run ends (a directory's lock). */
  release(): void;
}

/** A checkpoint a store found: its step, the run's metadata, and how to put its values back into variables. */
export interface StoredCheckpoint {
  readonly step: number;
  readonly meta: { readonly [key: string]: JsonValue };
  /** Where it is, for messages (`<outDir>/checkpoints/step-40`, `memory step 40`). */
  readonly location: string;
  restore(variables: ReadonlyMap<string, Variable>): void;
}

/** A variable's values copied off the backend. */
export interface SavedValues {
  readonly shape: number[];
  readonly values: Float32Array | Int32Array;
}

/** A checkpoint held by a MemoryRunStore: the step, the run's metadata and every variable's values. */
export interface MemoryCheckpoint {
  readonly step: number;
  readonly meta: { [key: string]: JsonValue };
  readonly values: Map<string, SavedValues>;
}

export interface MemoryRunStoreOptions {
  /** Checkpoints kept (the newest); default 1. 0 keeps none, so a run in this store cannot be resumed. */
  readonly keepCheckpoints?: number;
}

/**
 * A run kept in memory: config, metrics records and the newest checkpoints as plain typed arrays. Passing the
 * same store to a second `train({ ..., store, resume: true })` continues the run from its newest checkpoint,
 * exactly as a run directory does (a web page that stops and resumes training). Nothing survives the page:
 * `IndexedDbRunStore` keeps the same in the browser's database, across reloads.
 */
export class MemoryRunStore implements RunStore {
  readonly location: string = 'memory';
  config: unknown;
  readonly metrics: Record<string, unknown>[] = [];
  protected readonly checkpoints: MemoryCheckpoint[] = [];
  private readonly keepCheckpoints: number;

  constructor(options: MemoryRunStoreOptions = {}) {
    this.keepCheckpoints = options.keepCheckpoints ?? 1;
    if (!Number.isInteger(this.keepCheckpoints) || this.keepCheckpoints < 0)
      throw new SslError('invalid-config', `MemoryRunStore: keepCheckpoints must be an integer >= 0, got ${this.keepCheckpoints}.`);
  }

  /** The steps of the checkpoints held, oldest first. */
  get checkpointSteps(): number[] {
    return this.checkpoints.map((c) => c.step);
  }

  resumeCheckpoint(): StoredCheckpoint | undefined {
    const newest = this.checkpoints.at(-1);
    if (!newest) return undefined;
    const location = `memory step ${newest.step}`;
    return {
      step: newest.step,
      meta: newest.meta,
      location,
      restore: (variables) => restoreSavedValues(location, newest.values, variables),
    };
  }

  hasCheckpointAt(stepsDone: number): boolean {
    return this.keepCheckpoints === 0 || this.checkpoints.at(-1)?.step === stepsDone;
  }

  writeCheckpoint(stepsDone: number, variables: ReadonlyMap<string, Variable>, meta: { [key: string]: JsonValue }): void {
    if (this.hasCheckpointAt(stepsDone)) return;
    const values = new Map<string, SavedValues>();
    for (const [key, variable] of variables) {
      values.set(key, { shape: [...variable.shape], values: variable.dataSync() as Float32Array | Int32Array });
    }
    this.checkpoints.push({ step: stepsDone, meta: structuredClone(meta), values });
    this.checkpoints.splice(0, Math.max(0, this.checkpoints.length - this.keepCheckpoints));
  }

  writeConfig(config: unknown): void {
    this.config = structuredClone(config);
  }

  startMetrics(resumedFromStep: number | undefined): void {
    if (resumedFromStep === undefined) {
      this.metrics.length = 0;
      return;
    }
    const kept = this.metrics.filter((record) => typeof record.step !== 'number' || record.step <= resumedFromStep - 1);
    this.metrics.splice(0, this.metrics.length, ...kept);
  }

  appendMetrics(record: Record<string, unknown>): void {
    this.metrics.push(record);
  }

  /** The encoder and products stay with the caller (`TrainResult.encoder`, `runtime.products()`): nothing to copy. */
  async saveOutputs(): Promise<void> {}

  release(): void {}
}

function restoreSavedValues(location: string, saved: ReadonlyMap<string, SavedValues>, variables: ReadonlyMap<string, Variable>): void {
  for (const [key, variable] of variables) {
    const stored = saved.get(key);
    if (!stored)
      throw new SslError(
        'checkpoint',
        `Checkpoint ${location} has no tensor ${key}: it was written by a different method or architecture.`,
      );
    if (stored.shape.join() !== variable.shape.join()) {
      throw new SslError(
        'checkpoint',
        `Checkpoint tensor ${key} has shape ${formatShape(stored.shape)} but the network expects ${formatShape(variable.shape)}.`,
      );
    }
    tf.tidy(() => variable.assign(tf.tensor(stored.values, stored.shape, variable.dtype)));
  }
}

/** A value as JSON would carry it (undefined fields dropped), for configs and checkpoint metadata. */
export function toJson(value: unknown): JsonValue {
  return JSON.parse(JSON.stringify(value ?? null)) as JsonValue;
}
