import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isSslError } from '../errors';
import { registerWasmTrainingKernels } from '../backend/kernels/index';
import type { AnyEncoder } from './create-encoder';
import { createEncoder } from './create-encoder';
import { loadEncoder, saveEncoder } from './io';
import { interpolatePositionEmbedding, sincosPositionEmbedding2d } from './layers/embeddings';
import type { EncoderSpec, VitSpec } from './spec';
import type { VitEncoder } from './vit';

function values(t: tf.Tensor): number[] {
  const out = Array.from(t.dataSync());
  t.dispose();
  return out;
}

function maxAbsDifference(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/** vit28-like, small: 28×28 images in 4×4 patches of 7 px (14×14 images give 2×2 patches). */
const smallVit: VitSpec = { kind: 'vit', inputShape: [28, 28, 1], patchSize: 7, embedDim: 16, depth: 2, numHeads: 2, seed: 3 };

const encoderSpecs: Array<{ name: string; spec: EncoderSpec }> = [
  { name: 'cnn', spec: { kind: 'cnn', inputShape: [28, 28, 1], channels: [4, 8, 8], seed: 1 } },
  { name: 'resnet18', spec: { kind: 'resnet18', inputShape: [28, 28, 1], widthMultiplier: 1 / 16, seed: 2 } },
  { name: 'vit', spec: smallVit },
  { name: 'vit sincos, mean pooling', spec: { ...smallVit, positionEmbedding: 'sincos', classToken: false } },
];

/** Gradients of every trainable variable for `loss`, and whether each is finite. */
function gradientsOf(encoder: AnyEncoder, loss: () => tf.Scalar): { grads: tf.NamedTensorMap; allFinite: boolean } {
  const variables = encoder.model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(loss, variables);
  value.dispose();
  expect(Object.keys(grads).length).toBe(variables.length);
  const finite = tf.tidy(() => tf.all(tf.stack(Object.values(grads).map((g) => tf.all(tf.isFinite(g))))));
  return { grads, allFinite: values(finite)[0] === 1 };
}

describe('variable input sizes', () => {
  let root: string;
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    registerWasmTrainingKernels();
    root = mkdtempSync(path.join(tmpdir(), 'ssl-nn-sizes-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  for (const { name, spec } of encoderSpecs) {
    it(`${name}: one training step over 28×28 and 14×14 views of one encoder has finite gradients, to which the 14×14 views contribute`, () => {
      const encoder = createEncoder(spec);
      const large = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
      const small = tf.randomNormal([3, 14, 14, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
      const viewLoss = (views: tf.Tensor4D) => tf.mean(tf.square(tf.sub(encoder.features(views, { training: true }), 0.3)));
      const both = gradientsOf(encoder, () => tf.tidy(() => tf.add(viewLoss(large), viewLoss(small)) as tf.Scalar));
      const largeOnly = gradientsOf(encoder, () => tf.tidy(() => viewLoss(large) as tf.Scalar));
      expect(both.allFinite).toBe(true);
      const names = Object.keys(both.grads);
      const contribution = Math.max(...names.map((n) => maxAbsDifference(values(both.grads[n]), values(largeOnly.grads[n]))));
      expect(contribution).toBeGreaterThan(1e-6);
      tf.dispose([large, small]);
      encoder.model.dispose();
    });
  }

  it('vit: the learned position embedding gets a gradient from 14×14 views alone (through the interpolation)', () => {
    const encoder = createEncoder(smallVit);
    const small = tf.randomNormal([3, 14, 14, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
    const table = encoder.model.trainableWeights.find((w) => /embeddings/.test(w.name));
    expect(table?.shape).toEqual([16, 16]);
    const { grads } = tf.variableGrads(
      () => tf.tidy(() => tf.mean(tf.square(encoder.features(small, { training: true }))) as tf.Scalar),
      [table!.read() as tf.Variable],
    );
    expect(Math.max(...values(tf.abs(Object.values(grads)[0])))).toBeGreaterThan(1e-7);
    tf.dispose([small, ...Object.values(grads)]);
    encoder.model.dispose();
  });

  it('vit at 14×14 equals a ViT built for 14×14 with the same weights and the interpolated position table', () => {
    const encoder = createEncoder(smallVit);
    const native = createEncoder({ ...smallVit, inputShape: [14, 14, 1] });
    const sources = [...encoder.model.weights].sort((a, b) => a.id - b.id);
    const targets = [...native.model.weights].sort((a, b) => a.id - b.id);
    targets.forEach((target, i) => {
      const source = sources[i].read();
      if (/embeddings/.test(target.name)) {
        const resized = interpolatePositionEmbedding(source as tf.Tensor2D, [4, 4], [2, 2]);
        target.write(resized);
        resized.dispose();
      } else {
        target.write(source);
      }
    });
    const small = tf.randomNormal([2, 14, 14, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
    const resizedRun = values(encoder.features(small));
    expect(maxAbsDifference(resizedRun, values(native.features(small)))).toBeLessThan(1e-6);
    expect(encoder.tokens(small).shape).toEqual([2, 5, 16]);
    // The build size still runs the saved graph, and gives its own result.
    const large = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    expect(values(encoder.embedPatches(large)).length).toBe(2 * 16 * 16);
    tf.dispose([small, large]);
    encoder.model.dispose();
    native.model.dispose();
  });

  it('position-embedding interpolation: the identity on the same grid, PyTorch bilinear (align_corners=False) on a larger one', () => {
    const table = tf.randomNormal([12, 5], 0, 1, 'float32', 6) as tf.Tensor2D;
    expect(values(interpolatePositionEmbedding(table, [3, 4], [3, 4]))).toEqual(Array.from(table.dataSync()));
    // An affine function of (row, column) on a 2×2 grid, 2·row + column, resampled to 4×4: each axis samples
    // the source at (d + 0.5)/2 − 0.5 clamped to [0, 1], i.e. 0, 0.25, 0.75, 1.
    const affine = tf.tensor2d([0, 1, 2, 3], [4, 1]);
    const axis = [0, 0.25, 0.75, 1];
    const expected = axis.flatMap((row) => axis.map((column) => 2 * row + column));
    expect(maxAbsDifference(values(interpolatePositionEmbedding(affine, [2, 2], [4, 4])), expected)).toBeLessThan(1e-6);
    expect(() => interpolatePositionEmbedding(table, [3, 3], [2, 2])).toThrow(/not a 3×3 grid/);
    tf.dispose([table, affine]);
  });

  it('vit sincos: the embedding for another grid is the sin-cos table of that grid', () => {
    const encoder = createEncoder({ ...smallVit, positionEmbedding: 'sincos' }) as VitEncoder;
    const layerTable = (
      encoder as unknown as { positionLayer: { embeddingsForGrid(h: number, w: number): tf.Tensor2D } }
    ).positionLayer.embeddingsForGrid(2, 3);
    expect(values(layerTable)).toEqual(values(sincosPositionEmbedding2d(2, 3, 16)));
    encoder.model.dispose();
  });

  it('shape errors say what the encoder accepts', () => {
    const cases: Array<{ spec: EncoderSpec; shape: [number, number, number, number]; message: RegExp }> = [
      { spec: smallVit, shape: [1, 15, 14, 1], message: /not a multiple of 7/ },
      { spec: smallVit, shape: [1, 28, 28, 3], message: /\[N, height, width, 1\]/ },
      { spec: encoderSpecs[0].spec, shape: [1, 2, 9, 1], message: /smaller than the 4×4 px this encoder needs \(3 stages/ },
      { spec: encoderSpecs[1].spec, shape: [1, 9, 9, 2], message: /\[N, height, width, 1\]/ },
    ];
    for (const { spec, shape, message } of cases) {
      const encoder = createEncoder(spec);
      const x = tf.zeros(shape) as tf.Tensor4D;
      let caught: unknown;
      try {
        encoder.features(x);
      } catch (error) {
        caught = error;
      }
      expect(isSslError(caught, 'shape-mismatch')).toBe(true);
      expect((caught as Error).message).toMatch(message);
      x.dispose();
      encoder.model.dispose();
    }
  });

  for (const spec of [
    { kind: 'resnet18', inputShape: [28, 28, 1], widthMultiplier: 1 / 16, dropout: 0.2, dropPath: 0.3, seed: 2 },
    { ...smallVit, dropout: 0.2, dropPath: 0.3 },
  ] as EncoderSpec[]) {
    it(`${spec.kind} with noise: saves and loads; the loaded one runs at 14×14 like the original and keeps its noise`, async () => {
      const encoder = createEncoder(spec);
      const small = tf.randomNormal([4, 14, 14, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
      const dir = path.join(root, spec.kind);
      await saveEncoder(encoder, dir);
      const loaded = await loadEncoder(dir);
      const inference = values(loaded.features(small));
      expect(inference).toEqual(values(encoder.features(small)));
      expect(maxAbsDifference(values(loaded.features(small, { training: true })), inference)).toBeGreaterThan(1e-4);
      small.dispose();
      encoder.model.dispose();
      loaded.model.dispose();
    });
  }
});
