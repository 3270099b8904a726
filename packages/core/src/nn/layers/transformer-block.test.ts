import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';

import { isSslError } from '../../errors';
import { TransformerBlock } from './transformer-block';

type Matrix = number[][];

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const sign = Math.sign(x);
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign * (1 - poly * Math.exp(-x * x));
}

const matmul = (a: Matrix, b: Matrix): Matrix => a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
const addBias = (a: Matrix, bias: number[]): Matrix => a.map((row) => row.map((v, j) => v + bias[j]));
const add = (a: Matrix, b: Matrix): Matrix => a.map((row, i) => row.map((v, j) => v + b[i][j]));
function layerNorm(a: Matrix, gamma: number[], beta: number[], epsilon: number): Matrix {
  return a.map((row) => {
    const mean = row.reduce((s, v) => s + v, 0) / row.length;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / row.length;
    return row.map((v, j) => ((v - mean) / Math.sqrt(variance + epsilon)) * gamma[j] + beta[j]);
  });
}

/** Pre-norm block for one sequence [L, D], written out with loops. */
function referenceBlock(x: Matrix, w: number[][][] | number[][], numHeads: number, causal: boolean, epsilon: number): Matrix {
  const [g1, b1, qkvKernel, qkvBias, projectionKernel, projectionBias, g2, b2, fc1Kernel, fc1Bias, fc2Kernel, fc2Bias] = w as [
    number[],
    number[],
    Matrix,
    number[],
    Matrix,
    number[],
    number[],
    number[],
    Matrix,
    number[],
    Matrix,
    number[],
  ];
  const length = x.length;
  const dim = x[0].length;
  const headDim = dim / numHeads;
  const qkv = addBias(matmul(layerNorm(x, g1, b1, epsilon), qkvKernel), qkvBias);
  const merged: Matrix = x.map(() => new Array(dim).fill(0));
  for (let h = 0; h < numHeads; h++) {
    for (let i = 0; i < length; i++) {
      const logits: number[] = [];
      for (let j = 0; j < length; j++) {
        let dot = 0;
        for (let c = 0; c < headDim; c++) dot += qkv[i][h * headDim + c] * qkv[j][dim + h * headDim + c];
        logits.push(causal && j > i ? -Infinity : dot / Math.sqrt(headDim));
      }
      const maxLogit = Math.max(...logits);
      const exps = logits.map((l) => Math.exp(l - maxLogit));
      const total = exps.reduce((s, v) => s + v, 0);
      for (let j = 0; j < length; j++) {
        for (let c = 0; c < headDim; c++) merged[i][h * headDim + c] += (exps[j] / total) * qkv[j][2 * dim + h * headDim + c];
      }
    }
  }
  const afterAttention = add(x, addBias(matmul(merged, projectionKernel), projectionBias));
  const hidden = addBias(matmul(layerNorm(afterAttention, g2, b2, epsilon), fc1Kernel), fc1Bias).map((row) =>
    row.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))),
  );
  return add(afterAttention, addBias(matmul(hidden, fc2Kernel), fc2Bias));
}

describe('TransformerBlock', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  for (const causal of [false, true]) {
    it(`matches a loop reference (${causal ? 'causal' : 'bidirectional'}), any sequence length`, async () => {
      const block = new TransformerBlock({ embedDim: 4, numHeads: 2, mlpRatio: 2, causal, seed: 11 });
      const x = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 7) as tf.Tensor3D;
      const y = block.apply(x) as tf.Tensor3D;
      // Non-trivial LayerNorm parameters and biases, so every weight matters.
      const weights = block.getWeights().map((w, i) => tf.tidy(() => tf.add(w, tf.randomNormal(w.shape, 0, 0.3, 'float32', 100 + i))));
      block.setWeights(weights);
      const output = block.apply(x) as tf.Tensor3D;
      const weightValues = (await Promise.all(weights.map((w) => w.array()))) as number[][][];
      const inputs = (await x.array()) as number[][][];
      const actual = (await output.array()) as number[][][];
      inputs.forEach((sequence, n) => {
        const expected = referenceBlock(sequence, weightValues, 2, causal, 1e-6);
        expected.forEach((row, i) => row.forEach((v, j) => expect(actual[n][i][j]).toBeCloseTo(v, 4)));
      });
      // Weights do not depend on the sequence length: a longer sequence works with the same layer.
      const longer = tf.randomNormal([1, 9, 4]);
      const longerOutput = block.apply(longer) as tf.Tensor;
      expect(longerOutput.shape).toEqual([1, 9, 4]);
      tf.dispose([x, y, output, longer, longerOutput, ...weights]);
      block.dispose();
    });
  }

  it('has timm parameter layout and rejects heads that do not divide the width', () => {
    const block = new TransformerBlock({ embedDim: 8, numHeads: 2 });
    tf.dispose(block.apply(tf.zeros([1, 2, 8])) as tf.Tensor);
    const d = 8;
    const total = block.trainableWeights.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
    expect(total).toBe(2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d));
    block.dispose();
    let caught: unknown;
    try {
      new TransformerBlock({ embedDim: 10, numHeads: 4 });
    } catch (error) {
      caught = error;
    }
    expect(isSslError(caught, 'invalid-config')).toBe(true);
    expect((caught as Error).message).toContain('numHeads');
  });
});
