import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Variable } from '@tensorflow/tfjs-core';
import { SslError, formatShape } from '../errors';
import { parseSafetensors, serializeSafetensors } from './safetensors';

/**
 * Checkpoints are a directory `step-<n>/` holding `tensors.safetensors` (every variable under a stable name
 * such as `trainable/encoder/conv2d_0/kernel`, in the safetensors format that Python's `safetensors`, numpy
 * and other tools read) and `manifest.json` (step, run metadata, and the SHA-256 of the tensor file and of
 * the manifest itself). They are written to a temporary directory and renamed into place, so a run killed
 * at any instant leaves either the previous complete checkpoint or the new one, never a torn one; the
 * hashes catch what happens to the files afterwards (truncation, a disk that flips bytes, manual edits).
 * Loading parses JSON and copies numbers: it never executes code.
 */
export const CHECKPOINT_FORMAT = 'ssl-checkpoint';
/** 2: safetensors with named keys and SHA-256 hashes. 1 (@ssl/core 0.1): tensors.bin with positional keys, not read. */
export const CHECKPOINT_FORMAT_VERSION = 2;
export const TENSORS_FILE = 'tensors.safetensors';
export const MANIFEST_FILE = 'manifest.json';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type CheckpointDtype = 'float32' | 'int32';

export interface CheckpointFileRecord {
  readonly bytes: number;
  readonly sha256: string;
}

export interface CheckpointManifest {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly formatVersion: number;
  readonly step: number;
  readonly createdAt: string;
  readonly meta: { [key: string]: JsonValue };
  /** Size and SHA-256 of each data file of the checkpoint (today only `tensors.safetensors`). */
  readonly files: { readonly [file: string]: CheckpointFileRecord };
  /** SHA-256 of this manifest's JSON without this field (see `manifestChecksum`). */
  readonly sha256: string;
}

export interface StoredTensor {
  readonly shape: number[];
  readonly dtype: CheckpointDtype;
  readonly values: Float32Array | Int32Array;
}

export interface LoadedCheckpoint {
  readonly path: string;
  readonly manifest: CheckpointManifest;
  readonly tensors: ReadonlyMap<string, StoredTensor>;
}

/** A checkpoint that failed verification, and why. */
export interface DamagedCheckpoint {
  readonly path: string;
  readonly step: number;
  readonly reason: string;
}

const STEP_DIR = /^step-(\d+)$/;
const SAFETENSORS_DTYPES: Record<CheckpointDtype, 'F32' | 'I32'> = { float32: 'F32', int32: 'I32' };

function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 of the manifest's JSON without its `sha256` field, as JSON.stringify writes it (stable on re-serialization). */
function manifestChecksum(manifest: Omit<CheckpointManifest, 'sha256'> & { sha256?: string }): string {
  const { sha256: _omitted, ...body } = manifest;
  return sha256(JSON.stringify(body));
}

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

/** Named checkpoint tensors as safetensors (`serializeSafetensors`); one chunk, a list for streaming writers. */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, StoredTensor>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array[] {
  const entries = [...tensors].map(([name, tensor]) => ({
    name,
    dtype: SAFETENSORS_DTYPES[tensor.dtype],
    shape: tensor.shape,
    values: tensor.values,
  }));
  return [serializeSafetensors(entries, metadata)];
}

/** Decodes a safetensors buffer of F32 and I32 tensors (`parseSafetensors`); throws a message naming what is wrong. */
export function decodeSafetensors(buffer: Uint8Array): { tensors: Map<string, StoredTensor>; metadata: Record<string, string> } {
  const parsed = parseSafetensors(buffer);
  const tensors = new Map<string, StoredTensor>();
  for (const [name, { dtype, shape, values }] of parsed.tensors) {
    if (dtype === 'I64') throw new SslError('checkpoint', `tensor ${name} has dtype I64; checkpoints hold F32 and I32 only`);
    tensors.set(name, { shape, dtype: dtype === 'F32' ? 'float32' : 'int32', values: values as Float32Array | Int32Array });
  }
  return { tensors, metadata: parsed.metadata };
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
  const tensors = new Map<string, StoredTensor>();
  for (const [key, variable] of variables) {
    if (variable.dtype !== 'float32' && variable.dtype !== 'int32') {
      throw new SslError('checkpoint', `Cannot checkpoint ${key}: dtype ${variable.dtype} (only float32 and int32 are stored).`);
    }
    tensors.set(key, { shape: [...variable.shape], dtype: variable.dtype, values: variable.dataSync() as Float32Array | Int32Array });
  }
  const chunks = encodeSafetensors(tensors, {
    format: CHECKPOINT_FORMAT,
    formatVersion: String(CHECKPOINT_FORMAT_VERSION),
    step: String(step),
  });
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  const body: Omit<CheckpointManifest, 'sha256'> = {
    format: CHECKPOINT_FORMAT,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    step,
    createdAt: new Date().toISOString(),
    meta,
    files: { [TENSORS_FILE]: { bytes: chunks.reduce((n, c) => n + c.byteLength, 0), sha256: hash.digest('hex') } },
  };
  const manifest: CheckpointManifest = { ...body, sha256: manifestChecksum(body) };
  const finalPath = join(directory, `step-${String(step).padStart(8, '0')}`);
  const tempPath = join(directory, `.tmp-step-${step}-${process.pid}`);
  rmSync(tempPath, { recursive: true, force: true });
  mkdirSync(tempPath);
  writeFileDurable(join(tempPath, TENSORS_FILE), chunks);
  // The manifest is written last: a directory with a manifest is complete.
  writeFileDurable(join(tempPath, MANIFEST_FILE), [Buffer.from(JSON.stringify(manifest))]);
  fsyncDir(tempPath);
  rmSync(finalPath, { recursive: true, force: true });
  renameSync(tempPath, finalPath);
  fsyncDir(directory);
  pruneCheckpoints(directory, options.keepLast ?? 2);
  return finalPath;
}

/** Every `step-<n>` directory, oldest first, whether or not it verifies. */
function checkpointDirectories(directory: string): { step: number; path: string }[] {
  if (!existsSync(directory)) return [];
  return readdirSync(directory)
    .map((name) => ({ match: STEP_DIR.exec(name), name }))
    .filter((e): e is { match: RegExpExecArray; name: string } => e.match !== null)
    .map((e) => ({ step: Number(e.match[1]), path: join(directory, e.name) }))
    .sort((a, b) => a.step - b.step);
}

function pruneCheckpoints(directory: string, keepLast: number): void {
  const all = checkpointDirectories(directory);
  for (const old of all.slice(0, Math.max(0, all.length - keepLast))) rmSync(old.path, { recursive: true, force: true });
  for (const name of readdirSync(directory)) {
    // Leftovers of runs killed while writing.
    if (name.startsWith('.tmp-step-') && !name.endsWith(`-${process.pid}`)) rmSync(join(directory, name), { recursive: true, force: true });
  }
}

function damaged(path: string, reason: string): SslError {
  return new SslError('checkpoint', `Checkpoint ${path} is damaged: ${reason}.`, { details: { path, reason } });
}

function readManifest(path: string): CheckpointManifest {
  const manifestPath = join(path, MANIFEST_FILE);
  if (!existsSync(manifestPath)) throw damaged(path, `${MANIFEST_FILE} is missing`);
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as CheckpointManifest;
  } catch (error) {
    throw damaged(path, `${MANIFEST_FILE} is not valid JSON (${(error as Error).message})`);
  }
  if (manifest === null || typeof manifest !== 'object' || manifest.format !== CHECKPOINT_FORMAT)
    throw damaged(path, `${MANIFEST_FILE} is not an @ssl checkpoint manifest`);
  if (manifest.formatVersion === 1) {
    throw new SslError(
      'checkpoint',
      `Checkpoint ${path} has format version 1 (@ssl/core 0.1: tensors.bin keyed by position), which this version no longer reads: ` +
        'finish or resume that run with @ssl/core 0.1.x, or start a new run.',
      {
        details: {
          path,
          reason: 'format version 1 of @ssl/core 0.1, which this version no longer reads: finish that run with @ssl/core 0.1.x',
        },
      },
    );
  }
  if (manifest.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw new SslError(
      'checkpoint',
      `Checkpoint ${path} has format version ${manifest.formatVersion}; this @ssl/core reads version ${CHECKPOINT_FORMAT_VERSION}: upgrade @ssl/core.`,
      {
        details: { path, reason: `unknown checkpoint format version ${manifest.formatVersion}` },
      },
    );
  }
  if (typeof manifest.sha256 !== 'string' || manifestChecksum(manifest) !== manifest.sha256) {
    throw damaged(path, `${MANIFEST_FILE} does not match its own checksum (edited or corrupted)`);
  }
  return manifest;
}

/** Reads one checkpoint directory, verifying the manifest's checksum and the tensor file's size and SHA-256. */
export function readCheckpoint(path: string): LoadedCheckpoint {
  const manifest = readManifest(path);
  const record = manifest.files?.[TENSORS_FILE];
  if (!record) throw damaged(path, `${MANIFEST_FILE} records no ${TENSORS_FILE}`);
  const tensorsPath = join(path, TENSORS_FILE);
  if (!existsSync(tensorsPath)) throw damaged(path, `${TENSORS_FILE} is missing`);
  const size = statSync(tensorsPath).size;
  if (size !== record.bytes)
    throw damaged(path, `${TENSORS_FILE} is truncated or extended: ${size} bytes, the manifest records ${record.bytes}`);
  const buffer = readFileSync(tensorsPath);
  if (sha256(buffer) !== record.sha256)
    throw damaged(path, `${TENSORS_FILE} does not match its SHA-256 (its bytes changed after it was written)`);
  try {
    return { path, manifest, tensors: decodeSafetensors(buffer).tensors };
  } catch (error) {
    throw damaged(path, `${TENSORS_FILE} is not a valid safetensors file (${(error as Error).message})`);
  }
}

/**
 * The newest checkpoint under `directory` that verifies, and the newer ones that did not (with the reason).
 * `checkpoint` is undefined when no checkpoint verifies, or when there is none (`damaged` is then empty).
 */
export function findCheckpoint(directory: string): { checkpoint?: LoadedCheckpoint; damaged: DamagedCheckpoint[] } {
  const rejected: DamagedCheckpoint[] = [];
  const all = checkpointDirectories(directory);
  for (let i = all.length - 1; i >= 0; i--) {
    try {
      return { checkpoint: readCheckpoint(all[i].path), damaged: rejected };
    } catch (error) {
      if (!(error instanceof SslError)) throw error;
      const reason = typeof error.details.reason === 'string' ? error.details.reason : error.message;
      rejected.push({ path: all[i].path, step: all[i].step, reason });
    }
  }
  return { damaged: rejected };
}

/** Describes damaged checkpoints for a message: "step 40 (tensors.safetensors is truncated ...); step 30 (...)". */
export function describeDamage(damagedCheckpoints: readonly DamagedCheckpoint[]): string {
  return damagedCheckpoints.map((d) => `step ${d.step} (${d.reason})`).join('; ');
}

/**
 * The newest checkpoint under `directory` that verifies (newer damaged ones are skipped: see `findCheckpoint`
 * for why), or undefined when there is none. Throws SslError('checkpoint') when checkpoints exist but none verifies.
 */
export function latestCheckpoint(directory: string): LoadedCheckpoint | undefined {
  const found = findCheckpoint(directory);
  if (!found.checkpoint && found.damaged.length > 0) {
    throw new SslError('checkpoint', `No usable checkpoint in ${directory}: ${describeDamage(found.damaged)}.`, {
      details: { damaged: found.damaged },
    });
  }
  return found.checkpoint;
}

/** Assigns checkpointed values to variables by key; every variable must be present with its shape. */
export function restoreVariables(checkpoint: LoadedCheckpoint, variables: ReadonlyMap<string, Variable>): void {
  for (const [key, variable] of variables) {
    const stored = checkpoint.tensors.get(key);
    if (!stored)
      throw new SslError(
        'checkpoint',
        `Checkpoint ${checkpoint.path} has no tensor ${key}: it was written by a different method or architecture.`,
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
