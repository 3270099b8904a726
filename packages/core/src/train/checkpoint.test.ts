import { mkdtempSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { latestCheckpoint, restoreVariables, saveCheckpoint } from './checkpoint';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('checkpoints', () => {
  it('round-trips variables and metadata, keeps the newest N and ignores torn writes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssl-ckpt-'));
    const a = tf.variable(tf.tensor2d([[1, 2], [3, 4]]));
    const n = tf.variable(tf.tensor1d([7, 8, 9], 'int32'));
    const vars = new Map<string, tf.Variable>([['net/a', a], ['state/n', n]]);
    for (const step of [10, 20, 30]) saveCheckpoint(dir, step, vars, { note: `s${step}` }, { keepLast: 2 });
    expect(readdirSync(dir).filter((d) => d.startsWith('step-'))).toEqual(['step-00000020', 'step-00000030']);
    // A half-written newer checkpoint (no manifest) is not "complete" and is skipped.
    mkdirSync(join(dir, 'step-00000040'));
    writeFileSync(join(dir, 'step-00000040', 'tensors.bin'), Buffer.alloc(3));
    const latest = latestCheckpoint(dir);
    expect(latest?.manifest.step).toBe(30);
    expect(latest?.manifest.meta.note).toBe('s30');
    a.assign(tf.zeros([2, 2]));
    n.assign(tf.zeros([3], 'int32'));
    restoreVariables(latest!, vars);
    expect(Array.from(a.dataSync())).toEqual([1, 2, 3, 4]);
    expect(Array.from(n.dataSync())).toEqual([7, 8, 9]);
    tf.dispose([a, n]);
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
});
