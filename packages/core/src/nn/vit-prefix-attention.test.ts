import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEncoder } from './create-encoder';
import { TransformerBlock, prefixCausalMask } from './layers/transformer-block';
import type { VitEncoder } from './vit';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type Matrix = number[][];

function layerNormRow(row: number[], gamma: number[], beta: number[]): number[] {
  const mean = row.reduce((s, v) => s + v, 0) / row.length;
  const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / row.length;
  return row.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-6)) * gamma[i] + beta[i]);
}

function dense(row: number[], kernel: Matrix, bias: number[]): number[] {
  return bias.map((b, j) => row.reduce((s, v, i) => s + v * kernel[i][j], b));
}

const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/**
 * One pre-norm block on one sequence [L, D], in plain loops and float64: token i attends to token j iff j ≤ i or
 * j < prefixLength (masked pairs are left out of the softmax, not given −1e9).
 */
function referenceBlock(tokens: Matrix, weights: (number[] | Matrix)[], numHeads: number, prefixLength: number): Matrix {
  const [g1, b1, qkvK, qkvB, projK, projB, g2, b2, fc1K, fc1B, fc2K, fc2B] = weights as [
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
  const d = tokens[0].length;
  const headDim = d / numHeads;
  const qkv = tokens.map((t) => dense(layerNormRow(t, g1, b1), qkvK, qkvB));
  const merged = tokens.map((_, i) => {
    const out = new Array<number>(d).fill(0);
    for (let h = 0; h < numHeads; h++) {
      const part = (row: number[], p: number) => row.slice(p * d + h * headDim, p * d + (h + 1) * headDim);
      const q = part(qkv[i], 0);
      const visible = tokens.map((__, j) => j).filter((j) => j <= i || j < prefixLength);
      const logits = visible.map((j) => part(qkv[j], 1).reduce((s, k, c) => s + k * q[c], 0) / Math.sqrt(headDim));
      const top = Math.max(...logits);
      const exps = logits.map((l) => Math.exp(l - top));
      const total = exps.reduce((s, e) => s + e, 0);
      visible.forEach((j, a) => part(qkv[j], 2).forEach((v, c) => (out[h * headDim + c] += (exps[a] / total) * v)));
    }
    return out;
  });
  return tokens.map((t, i) => {
    const afterAttention = dense(merged[i], projK, projB).map((v, c) => v + t[c]);
    const hidden = dense(layerNormRow(afterAttention, g2, b2), fc1K, fc1B).map(geluTanh);
    return dense(hidden, fc2K, fc2B).map((v, c) => v + afterAttention[c]);
  });
}

describe('prefix-causal attention (AIM Sec. 3)', () => {
  const [batch, length, embedDim, numHeads] = [2, 5, 8, 2];
  const prefixLengths = [1, 3];
  const makeBlock = (causal: boolean) => {
    const block = new TransformerBlock({ embedDim, numHeads, mlpRatio: 2, causal, gelu: 'tanh', seed: 11 });
    block.apply(tf.zeros([1, length, embedDim]));
    return block;
  };

  it('matches a plain-loop block in values and in input gradients (finite differences of the reference)', () => {
    const block = makeBlock(false);
    const weights = block.getWeights().map((w) => w.arraySync() as number[] | Matrix);
    const tokens = tf.randomNormal([batch, length, embedDim], 0, 1, 'float32', 5) as tf.Tensor3D;
    const outputWeights = tf.randomNormal([batch, length, embedDim], 0, 1, 'float32', 6);
    const output = block.apply(tokens, { prefixLengths }) as tf.Tensor3D;
    const input = tokens.arraySync();
    const expected = input.map((sequence, n) => referenceBlock(sequence, weights, numHeads, prefixLengths[n]));
    const got = output.arraySync();
    for (let n = 0; n < batch; n++)
      for (let i = 0; i < length; i++)
        for (let c = 0; c < embedDim; c++) {
          expect(Math.abs(got[n][i][c] - expected[n][i][c])).toBeLessThan(1e-4);
        }

    // d/dx Σ output · R, against central differences of the reference.
    const gradient = tf
      .grad((x: tf.Tensor) => tf.sum(tf.mul(block.apply(x, { prefixLengths }) as tf.Tensor, outputWeights)))(tokens)
      .arraySync() as number[][][];
    const r = outputWeights.arraySync() as number[][][];
    const objective = (n: number, sequence: Matrix) =>
      referenceBlock(sequence, weights, numHeads, prefixLengths[n]).reduce(
        (s, row, i) => s + row.reduce((t, v, c) => t + v * r[n][i][c], 0),
        0,
      );
    const step = 1e-4;
    let largestGradient = 0;
    for (let n = 0; n < batch; n++)
      for (let i = 0; i < length; i++)
        for (let c = 0; c < embedDim; c++) {
          const moved = (delta: number) => input[n].map((row, a) => row.map((v, b) => (a === i && b === c ? v + delta : v)));
          const numeric = (objective(n, moved(step)) - objective(n, moved(-step))) / (2 * step);
          expect(Math.abs(gradient[n][i][c] - numeric)).toBeLessThan(2e-3 * Math.max(1, Math.abs(numeric)));
          largestGradient = Math.max(largestGradient, Math.abs(numeric));
        }
    expect(largestGradient).toBeGreaterThan(0.1);
    tf.dispose([tokens, outputWeights, output]);
    block.dispose();
  });

  it('is the causal mask at prefix 1 and no mask at prefix L, bit for bit; rejects a wrong prefix', () => {
    const bidirectional = makeBlock(false);
    const causal = makeBlock(true);
    const tokens = tf.randomNormal([batch, length, embedDim], 0, 1, 'float32', 7) as tf.Tensor3D;
    const same = (a: tf.Tensor, b: tf.Tensor) => expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.tidy(() => {
      same(bidirectional.apply(tokens, { prefixLengths: [1, 1] }) as tf.Tensor, causal.apply(tokens) as tf.Tensor);
      same(causal.apply(tokens, { prefixLengths: [length, length] }) as tf.Tensor, bidirectional.apply(tokens) as tf.Tensor);
      // And the masks differ between the two prefixes, so the checks above can fail.
      expect(tf.any(tf.notEqual(prefixCausalMask([1, 1], 2, length), prefixCausalMask([length, length], 2, length))).dataSync()[0]).toBe(1);
    });
    expect(() => bidirectional.apply(tokens, { prefixLengths: [0, 2] })).toThrow('prefixLengths must hold 2 integers in [1, 5]');
    expect(() => bidirectional.apply(tokens, { prefixLengths: [2] })).toThrow('prefixLengths must hold 2 integers');
    tokens.dispose();
    bidirectional.dispose();
    causal.dispose();
  });

  it('in a ViT with a class token: patch k sees patches j ≤ k or j < K, counted in patches', () => {
    const encoder = createEncoder({
      kind: 'vit',
      inputShape: [8, 8, 1],
      patchSize: 2,
      embedDim: 8,
      depth: 2,
      numHeads: 2,
      seed: 3,
    }) as VitEncoder;
    // 16 patches; image 0 has prefix 12 (patch 9 in it), image 1 prefix 1 (causal). Change patch 9 (and nothing else) of both images.
    const prefix = [12, 1];
    const changedPatch = 9;
    const outputs = tf.tidy(() => {
      const images = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
      const patches = encoder.embedPatches(images);
      const delta = tf.mul(
        tf.reshape(tf.oneHot(tf.tensor1d([changedPatch], 'int32'), 16), [1, 16, 1]),
        tf.randomNormal([1, 1, 8], 0, 2, 'float32', 8),
      );
      const before = encoder.encodeTokens(patches, { prefixLengths: prefix });
      const after = encoder.encodeTokens(tf.add(patches, delta) as tf.Tensor3D, { prefixLengths: prefix });
      // Largest change per token (class token first), per image.
      return tf.max(tf.abs(tf.sub(before, after)), -1).arraySync() as number[][];
    });
    for (let n = 0; n < 2; n++) {
      for (let k = 0; k < 16; k++) {
        const sees = changedPatch <= k || changedPatch < prefix[n];
        if (sees) expect(outputs[n][k + 1], `image ${n} token ${k}`).toBeGreaterThan(1e-6);
        else expect(outputs[n][k + 1]).toBe(0);
      }
      // The class token is in the prefix: it sees only patches j < K.
      if (changedPatch < prefix[n]) expect(outputs[n][0]).toBeGreaterThan(1e-6);
      else expect(outputs[n][0]).toBe(0);
    }
    encoder.model.dispose();
  });
});
