import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { SslError } from '../errors';
import {
  TENSORS_FILE,
  decodeSafetensors,
  findCheckpoint,
  latestCheckpoint,
  readCheckpoint,
  restoreVariables,
  saveCheckpoint,
} from './checkpoint';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Three checkpoints (steps 10, 20, 30) of a float and an int variable whose values encode the step. */
function threeCheckpoints(): { dir: string; paths: string[]; vars: Map<string, tf.Variable> } {
  const dir = mkdtempSync(join(tmpdir(), 'ssl-ckpt-'));
  const a = tf.variable(tf.zeros([2, 3]));
  const n = tf.variable(tf.zeros([3], 'int32'), true, undefined, 'int32');
  const vars = new Map<string, tf.Variable>([
    ['trainable/net/dense_0/kernel', a],
    ['state/count', n],
  ]);
  const paths = [10, 20, 30].map((step) => {
    a.assign(tf.fill([2, 3], step));
    n.assign(tf.tensor1d([step, step + 1, step + 2], 'int32'));
    return saveCheckpoint(dir, step, vars, { note: `s${step}` }, { keepLast: 3 });
  });
  return { dir, paths, vars };
}

describe('checkpoints', () => {
  it('round-trips named variables and metadata in safetensors, keeps the newest N', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssl-ckpt-'));
    const a = tf.variable(
      tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
    );
    const n = tf.variable(tf.tensor1d([7, 8, 9], 'int32'));
    const s = tf.variable(tf.scalar(0.5));
    const vars = new Map<string, tf.Variable>([
      ['trainable/net/dense_0/kernel', a],
      ['state/n', n],
      ['optimizer/step', s],
    ]);
    for (const step of [10, 20, 30]) saveCheckpoint(dir, step, vars, { note: `s${step}` }, { keepLast: 2 });
    expect(readdirSync(dir).filter((d) => d.startsWith('step-'))).toEqual(['step-00000020', 'step-00000030']);
    // The file is plain safetensors: 8-byte little-endian header length, a JSON header, aligned data.
    const bytes = readFileSync(join(dir, 'step-00000030', TENSORS_FILE));
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
    expect(header['trainable/net/dense_0/kernel']).toEqual({ dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
    expect(header['state/n']).toEqual({ dtype: 'I32', shape: [3], data_offsets: [16, 28] });
    expect(header['optimizer/step']).toEqual({ dtype: 'F32', shape: [], data_offsets: [28, 32] });
    expect(header.__metadata__).toEqual({ format: 'ssl-checkpoint', formatVersion: '2', step: '30' });
    expect(bytes.byteLength).toBe(8 + headerLength + 32);
    expect(Array.from(decodeSafetensors(bytes).tensors.get('state/n')!.values)).toEqual([7, 8, 9]);

    const latest = latestCheckpoint(dir)!;
    expect(latest.manifest.step).toBe(30);
    expect(latest.manifest.meta.note).toBe('s30');
    a.assign(tf.zeros([2, 2]));
    n.assign(tf.zeros([3], 'int32'));
    restoreVariables(latest, vars);
    expect(Array.from(a.dataSync())).toEqual([1, 2, 3, 4]);
    expect(Array.from(n.dataSync())).toEqual([7, 8, 9]);
    tf.dispose([a, n, s]);
  });

  it('refuses to restore into a different architecture', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssl-ckpt-'));
    const a = tf.variable(tf.ones([2]));
    saveCheckpoint(dir, 1, new Map<string, tf.Variable>([['net/a', a]]), {});
    const b = tf.variable(tf.ones([3]));
    expect(() => restoreVariables(latestCheckpoint(dir)!, new Map<string, tf.Variable>([['net/a', b]]))).toThrowError(/shape/);
    expect(() => restoreVariables(latestCheckpoint(dir)!, new Map<string, tf.Variable>([['net/x', b]]))).toThrowError(/no tensor net\/x/);
    tf.dispose([a, b]);
  });

  describe('verification: a damaged newest checkpoint is named and the previous good one is used', () => {
    const damages: Array<{ name: string; damage: (path: string) => void; reason: RegExp }> = [
      {
        name: 'truncated tensor file',
        damage: (path) => truncateSync(join(path, TENSORS_FILE), statSync(join(path, TENSORS_FILE)).size - 5),
        reason: /tensors\.safetensors is truncated or extended: \d+ bytes, the manifest records \d+/,
      },
      {
        name: 'broken manifest',
        damage: (path) => writeFileSync(join(path, 'manifest.json'), readFileSync(join(path, 'manifest.json'), 'utf8').slice(0, 40)),
        reason: /manifest\.json is not valid JSON/,
      },
      {
        name: 'manifest edited into other valid JSON',
        damage: (path) =>
          writeFileSync(join(path, 'manifest.json'), readFileSync(join(path, 'manifest.json'), 'utf8').replace('"step":30', '"step":31')),
        reason: /manifest\.json does not match its own checksum/,
      },
      {
        name: 'same-size overwrite of tensor bytes (NaN)',
        damage: (path) => {
          const file = join(path, TENSORS_FILE);
          const bytes = readFileSync(file);
          // The last 4 bytes are the int state; overwrite the float kernel's first value with a NaN instead.
          const dataStart = 8 + Number(bytes.readBigUInt64LE(0));
          bytes.writeFloatLE(Number.NaN, dataStart);
          writeFileSync(file, bytes);
        },
        reason: /tensors\.safetensors does not match its SHA-256/,
      },
    ];
    for (const { name, damage, reason } of damages) {
      it(name, () => {
        const { dir, paths } = threeCheckpoints();
        damage(paths[2]);
        expect(() => readCheckpoint(paths[2])).toThrowError(reason);
        const found = findCheckpoint(dir);
        expect(found.checkpoint?.manifest.step).toBe(20);
        expect(Array.from(found.checkpoint!.tensors.get('state/count')!.values)).toEqual([20, 21, 22]);
        expect(found.damaged).toHaveLength(1);
        expect(found.damaged[0].step).toBe(30);
        expect(found.damaged[0].reason).toMatch(reason);
      });
    }

    it('fails, naming every checkpoint and why, when none verifies', () => {
      const { dir, paths } = threeCheckpoints();
      for (const path of paths) truncateSync(join(path, TENSORS_FILE), 10);
      let error: unknown;
      try {
        latestCheckpoint(dir);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SslError);
      expect((error as SslError).code).toBe('checkpoint');
      expect((error as SslError).message).toMatch(/step 30 \(tensors\.safetensors is truncated.*step 20 .*step 10 /);
    });

    it('reports a directory without its manifest, and ignores nothing silently', () => {
      const { dir } = threeCheckpoints();
      mkdirSync(join(dir, 'step-00000040'));
      writeFileSync(join(dir, 'step-00000040', TENSORS_FILE), Buffer.alloc(3));
      const found = findCheckpoint(dir);
      expect(found.checkpoint?.manifest.step).toBe(30);
      expect(found.damaged).toEqual([{ path: join(dir, 'step-00000040'), step: 40, reason: 'manifest.json is missing' }]);
    });

    it('says that a format-1 checkpoint (@ssl/core 0.1) is no longer read, and how to go on', () => {
      const dir = mkdtempSync(join(tmpdir(), 'ssl-ckpt-v1-'));
      mkdirSync(join(dir, 'step-00000004'));
      writeFileSync(join(dir, 'step-00000004', 'tensors.bin'), Buffer.alloc(8));
      writeFileSync(
        join(dir, 'step-00000004', 'manifest.json'),
        JSON.stringify({
          format: 'ssl-checkpoint',
          formatVersion: 1,
          step: 4,
          meta: {},
          tensors: [{ key: 'trainable/encoder/0', shape: [2], dtype: 'float32', byteOffset: 0, byteLength: 8 }],
        }),
      );
      expect(() => readCheckpoint(join(dir, 'step-00000004'))).toThrowError(
        /format version 1 \(@ssl\/core 0\.1.*no longer reads: finish or resume that run with @ssl\/core 0\.1\.x, or start a new run/,
      );
      expect(() => latestCheckpoint(dir)).toThrowError(/step 4 \(format version 1 of @ssl\/core 0\.1, which this version no longer reads/);
    });
  });

  it('is read by a 20-line Python reader (json + struct, numpy when installed): named tensors with their shapes', (context) => {
    const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
    if (python.status !== 0) {
      console.log('skipped: python3 is not installed (CI installs it), so the safetensors file was not read by Python');
      context.skip();
    }
    const { paths } = threeCheckpoints();
    const reader = join(import.meta.dirname, 'fixtures', 'read_safetensors.py');
    const out = spawnSync('python3', [reader, join(paths[2], TENSORS_FILE)], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    const lines = out.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.slice(0, -1)).toEqual([
      { key: 'trainable/net/dense_0/kernel', dtype: 'F32', shape: [2, 3], count: 6, first: [30] },
      { key: 'state/count', dtype: 'I32', shape: [3], count: 3, first: [30] },
    ]);
    expect(lines.at(-1).metadata.step).toBe('30');
    if (!lines.at(-1).numpy) console.log('python3 has no numpy: the reader used struct only');
  });
});
