import '../../setup';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';

import { registerWasmTrainingKernels } from '../../backend/kernels';
import { addBias, addResidual } from './common';

type TapeNode = { outputs: tf.Tensor[]; saved?: tf.Tensor[] };

/** Tensors the tape keeps for the backward of the node that made `y` (-1: no such node). */
function savedFor(y: tf.Tensor): number {
  const tape = (tf.engine() as unknown as { state: { activeTape: TapeNode[] | null } }).state.activeTape ?? [];
  const node = tape.find((n) => n.outputs.some((output) => output.id === y.id));
  return node === undefined ? -1 : (node.saved?.length ?? 0);
}

/** Value and gradients of Σ (add(a, b) ⊙ w) with respect to a and b, and what the add kept on the tape. */
function run(add: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, aShape: number[], bShape: number[]) {
  return tf.tidy(() => {
    const a = tf.randomNormal(aShape, 0, 1, 'float32', 1);
    const b = tf.randomNormal(bShape, 0, 1, 'float32', 2);
    const weights = tf.randomNormal(aShape, 0, 1, 'float32', 3);
    let saved = -2;
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor, y: tf.Tensor) => {
      const sum = add(x, y);
      saved = savedFor(sum);
      return tf.sum(tf.mul(sum, weights)) as tf.Scalar;
    })([a, b]);
    return {
      y: Array.from(add(a, b).dataSync()),
      loss: value.dataSync()[0],
      da: Array.from(grads[0].dataSync()),
      db: Array.from(grads[1].dataSync()),
      saved,
    };
  });
}

const CASES: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, number[], number[]]> = [
  ['addBias rank 2', addBias, [37, 24], [24]],
  ['addBias rank 3', addBias, [5, 13, 16], [16]],
  ['addResidual rank 3', addResidual, [5, 13, 16], [5, 13, 16]],
];

describe('addBias and addResidual (tf.add keeping nothing for the backward)', () => {
  it('give tf.add’s values and gradients bit for bit on cpu, and keep no tensor on the tape where tf.add keeps two', async () => {
    await tf.setBackend('cpu');
    for (const [name, add, aShape, bShape] of CASES) {
      const ours = run(add, aShape, bShape);
      const stock = run((a, b) => tf.add(a, b), aShape, bShape);
      expect({ name, y: ours.y, loss: ours.loss, da: ours.da, db: ours.db }).toEqual({
        name,
        y: stock.y,
        loss: stock.loss,
        da: stock.da,
        db: stock.db,
      });
      expect(stock.saved).toBe(2);
      expect(ours.saved).toBe(0);
    }
  });

  it('match the cpu backend on wasm (values and gradients), leak nothing, and fall back to tf.add for other shapes', async () => {
    await tf.setBackend('cpu');
    const expected = CASES.map(([, add, aShape, bShape]) => run(add, aShape, bShape));
    await tf.setBackend('wasm');
    await tf.ready();
    registerWasmTrainingKernels();
    const before = tf.memory().numTensors;
    const actual = CASES.map(([, add, aShape, bShape]) => run(add, aShape, bShape));
    expect(tf.memory().numTensors).toBe(before);
    const maxGap = (p: number[], q: number[]) => p.reduce((gap, v, i) => Math.max(gap, Math.abs(v - q[i])), 0);
    actual.forEach((result, i) => {
      expect(maxGap(result.y, expected[i].y)).toBeLessThan(1e-6);
      expect(maxGap(result.da, expected[i].da)).toBeLessThan(1e-6);
      expect(maxGap(result.db, expected[i].db)).toBeLessThan(1e-4);
      expect(result.saved).toBe(0);
    });
    // A bias that is not one value per channel, and summands of different shapes, are tf.add's business.
    const broadcast = run(addBias, [4, 6], [4, 1]);
    const residualBroadcast = run(addResidual, [4, 6], [1, 6]);
    expect(broadcast.saved).toBe(2);
    expect(residualBroadcast.saved).toBe(2);
  });
});
