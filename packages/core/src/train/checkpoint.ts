import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Variable } from '@tensorflow/tfjs-core';
import { SslError, formatShape } from '../errors';

/**
 * Checkpoints are a directory `step-<n>/` holding `manifest.json` (step, config, RNG state, tensor index)
 * and `tensors.bin` (raw little-endian float32/int32 data). They are written to a temporary directory and
 * renamed into place, so a run killed at any instant leaves either the previous complete checkpoint or the
 * new one, never a torn one. Loading parses JSON and copies numbers: it never executes code.
 */
export const CHECKPOINT_FORMAT = 'ssl-checkpoint';
export const CHECKPOINT_FORMAT_VERSION = 1;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface TensorEntry {
  readonly key: string;
  readonly shape: number[];
  readonly dtype: 'float32' | 'int32';
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface CheckpointManifest {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly formatVersion: number;
  readonly step: number;
  readonly createdAt: string;
  readonly meta: { [key: string]: JsonValue };
  readonly tensors: TensorEntry[];
}

export interface LoadedCheckpoint {
  readonly path: string;
  readonly manifest: CheckpointManifest;
  readonly tensors: ReadonlyMap<string, { shape: number[]; dtype: 'float32' | 'int32'; values: Float32Array | Int32Array }>;
}

const STEP_DIR = /^step-(\d+)$/;

function writeFileDurable(path: string, chunks: readonly Uint8Array[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const chunk of chunks) {
      let written = 0;
      while (written < chunk.byteLength) written += writeSync(fd, chunk, written, chunk.byteLength - written);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(path: string): void {
  try {
    const fd = openSync(path, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Directory fsync is not supported on every platform; the rename is still atomic.
  }
}

/** Writes a checkpoint of the given named variables atomically; returns its directory. */
export function saveCheckpoint(
  directory: string,
  step: number,
  variables: ReadonlyMap<string, Variable>,
  meta: { [key: string]: JsonValue },
  options: { keepLast?: number } = {},
): string {
  mkdirSync(directory, { recursive: true });
  const entries: TensorEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [key, variable] of variables) {
    const dtype = variable.dtype === 'int32' ? 'int32' : 'float32';
    if (variable.dtype !== 'float32' && variable.dtype !== 'int32') {
      throw new SslError('checkpoint', `Cannot checkpoint ${key}: dtype ${variable.dtype} (only float32 and int32 are stored).`);
    }
    const data = variable.dataSync() as Float32Array | Int32Array;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    entries.push({ key, shape: [...variable.shape], dtype, byteOffset: offset, byteLength: bytes.byteLength });
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    step,
    createdAt: new Date().toISOString(),
    meta,
    tensors: entries,
  };
  const finalPath = join(directory, `step-${String(step).padStart(8, '0')}`);
  const tempPath = join(directory, `.tmp-step-${step}-${process.pid}`);
  rmSync(tempPath, { recursive: true, force: true });
  mkdirSync(tempPath);
  writeFileDurable(join(tempPath, 'tensors.bin'), chunks);
  // The manifest is written last: a directory with a manifest is complete.
  writeFileDurable(join(tempPath, 'manifest.json'), [Buffer.from(JSON.stringify(manifest))]);
  fsyncDir(tempPath);
  rmSync(finalPath, { recursive: true, force: true });
  renameSync(tempPath, finalPath);
  fsyncDir(directory);
  pruneCheckpoints(directory, options.keepLast ?? 2);
  return finalPath;
}

function completeCheckpoints(directory: string): { step: number; path: string }[] {
  if (!existsSync(directory)) return [];
  return readdirSync(directory)
    .map((name) => ({ match: STEP_DIR.exec(name), name }))
    .filter((e): e is { match: RegExpExecArray; name: string } => e.match !== null)
    .map((e) => ({ step: Number(e.match[1]), path: join(directory, e.name) }))
    .filter((e) => existsSync(join(e.path, 'manifest.json')) && existsSync(join(e.path, 'tensors.bin')))
    .sort((a, b) => a.step - b.step);
}

function pruneCheckpoints(directory: string, keepLast: number): void {
  const all = completeCheckpoints(directory);
  for (const old of all.slice(0, Math.max(0, all.length - keepLast))) rmSync(old.path, { recursive: true, force: true });
  for (const name of readdirSync(directory)) {
    // Leftovers of runs killed while writing.
    if (name.startsWith('.tmp-step-') && !name.endsWith(`-${process.pid}`)) rmSync(join(directory, name), { recursive: true, force: true });
  }
}

/** Reads one checkpoint directory, validating the manifest against the data file. */
export function readCheckpoint(path: string): LoadedCheckpoint {
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(readFileSync(join(path, 'manifest.json'), 'utf8')) as CheckpointManifest;
  } catch (error) {
    throw new SslError('checkpoint', `Checkpoint ${path} has an unreadable manifest.json: ${(error as Error).message}`, { cause: error });
  }
  if (manifest.format !== CHECKPOINT_FORMAT || manifest.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw new SslError('checkpoint', `${path} is not an @ssl checkpoint of format version ${CHECKPOINT_FORMAT_VERSION}.`);
  }
  const binPath = join(path, 'tensors.bin');
  const expectedBytes = manifest.tensors.reduce((n, t) => n + t.byteLength, 0);
  if (statSync(binPath).size !== expectedBytes) {
    throw new SslError('checkpoint', `Checkpoint ${path} is truncated: tensors.bin has ${statSync(binPath).size} bytes, the manifest lists ${expectedBytes}.`);
  }
  const buffer = readFileSync(binPath);
  const tensors = new Map<string, { shape: number[]; dtype: 'float32' | 'int32'; values: Float32Array | Int32Array }>();
  for (const entry of manifest.tensors) {
    const copy = buffer.buffer.slice(buffer.byteOffset + entry.byteOffset, buffer.byteOffset + entry.byteOffset + entry.byteLength);
    const values = entry.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy);
    const size = entry.shape.reduce((a, b) => a * b, 1);
    if (values.length !== size) throw new SslError('checkpoint', `Checkpoint ${path}: tensor ${entry.key} has ${values.length} values for shape ${formatShape(entry.shape)}.`);
    tensors.set(entry.key, { shape: entry.shape, dtype: entry.dtype, values });
  }
  return { path, manifest, tensors };
}

/** The newest complete checkpoint under `directory`, or undefined when there is none. */
export function latestCheckpoint(directory: string): LoadedCheckpoint | undefined {
  const all = completeCheckpoints(directory);
  for (let i = all.length - 1; i >= 0; i--) {
    try {
      return readCheckpoint(all[i].path);
    } catch {
      // A damaged newest checkpoint (disk full, manual edits) falls back to the previous one.
    }
  }
  return undefined;
}

/** Assigns checkpointed values to variables by key; every variable must be present with its shape. */
export function restoreVariables(checkpoint: LoadedCheckpoint, variables: ReadonlyMap<string, Variable>): void {
  for (const [key, variable] of variables) {
    const stored = checkpoint.tensors.get(key);
    if (!stored) throw new SslError('checkpoint', `Checkpoint ${checkpoint.path} has no tensor ${key}: it was written by a different method or architecture.`);
    if (stored.shape.join() !== variable.shape.join()) {
      throw new SslError('checkpoint', `Checkpoint tensor ${key} has shape ${formatShape(stored.shape)} but the network expects ${formatShape(variable.shape)}.`);
    }
    tf.tidy(() => variable.assign(tf.tensor(stored.values, stored.shape, variable.dtype)));
  }
}
