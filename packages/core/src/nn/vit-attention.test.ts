import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEncoder } from './create-encoder';
import type { VitEncoder } from './vit';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** LayerNorm of one row, plainly. */
function layerNormRow(row: number[], gamma: number[], beta: number[], epsilon: number): number[] {
  const mean = row.reduce((s, v) => s + v, 0) / row.length;
  const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / row.length;
  return row.map((v, i) => ((v - mean) / Math.sqrt(variance + epsilon)) * gamma[i] + beta[i]);
}

/** row · kernel [in, out] + bias. */
function dense(row: number[], kernel: number[][], bias: number[]): number[] {
  return bias.map((b, j) => row.reduce((s, v, i) => s + v * kernel[i][j], b));
}

describe('VitEncoder.classTokenAttention', () => {
  it('equals the class token’s softmax(q·k/√d) row over the patches, per head, computed plainly for a one-block ViT', () => {
    const embedDim = 8;
    const numHeads = 2;
    const encoder = createEncoder({
      kind: 'vit',
      inputShape: [8, 8, 1],
      patchSize: 4,
      embedDim,
      depth: 1,
      numHeads,
      seed: 7,
    }) as VitEncoder;
    const images = tf.randomUniform([2, 8, 8, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
    const maps = encoder.classTokenAttention(images);
    expect(maps.shape).toEqual([2, numHeads, 2, 2]);

    // The tokens entering the block: the class token (with its position embedding), then the embedded patches.
    const patches = encoder.embedPatches(images).arraySync();
    const classToken = Array.from(encoder.classTokenEmbedding()!.dataSync());
    const [gamma, beta, qkvKernel, qkvBias] = encoder.blocks[0]
      .getWeights()
      .slice(0, 4)
      .map((w) => w.arraySync()) as [number[], number[], number[][], number[]];
    const headDim = embedDim / numHeads;
    const got = maps.arraySync();
    for (let n = 0; n < 2; n++) {
      const qkv = [classToken, ...patches[n]].map((token) => dense(layerNormRow(token, gamma, beta, 1e-6), qkvKernel, qkvBias));
      for (let h = 0; h < numHeads; h++) {
        const slice = (row: number[], part: number) => row.slice(part * embedDim + h * headDim, part * embedDim + (h + 1) * headDim);
        const q = slice(qkv[0], 0);
        const logits = qkv.map((row) => slice(row, 1).reduce((s, k, i) => s + k * q[i], 0) / Math.sqrt(headDim));
        const top = Math.max(...logits);
        const exps = logits.map((l) => Math.exp(l - top));
        const total = exps.reduce((s, e) => s + e, 0);
        const expected = exps.slice(1).map((e) => e / total);
        expect(got[n][h].flat().map((v) => Number(v.toFixed(5)))).toEqual(expected.map((v) => Number(v.toFixed(5))));
      }
    }
    tf.dispose([images, maps]);
    encoder.model.dispose();
  });

  it('refuses a ViT without a class token, naming the option', () => {
    const encoder = createEncoder({
      kind: 'vit',
      inputShape: [8, 8, 1],
      patchSize: 4,
      embedDim: 8,
      depth: 1,
      numHeads: 2,
      classToken: false,
      seed: 1,
    }) as VitEncoder;
    const images = tf.zeros([1, 8, 8, 1]) as tf.Tensor4D;
    expect(() => encoder.classTokenAttention(images)).toThrow('classTokenAttention needs a class token (spec.classToken true)');
    images.dispose();
    encoder.model.dispose();
  });
});
