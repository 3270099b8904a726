import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';

import { isSslError } from '../errors';
import { createEncoder } from './create-encoder';
import { sincosPositionEmbedding2d } from './layers/embeddings';
import type { EncoderSpec } from './spec';
import { encoderPreset, validateEncoderSpec, vitPreset, withEncoderOptions } from './spec';

function expectInvalidConfig(spec: unknown, field: string): void {
  let caught: unknown;
  try {
    validateEncoderSpec(spec as EncoderSpec);
  } catch (error) {
    caught = error;
  }
  expect(isSslError(caught, 'invalid-config'), `spec ${JSON.stringify(spec)} should be rejected`).toBe(true);
  expect((caught as Error).message).toContain(field);
}

async function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const difference = tf.max(tf.abs(tf.sub(a, b)));
  const value = (await difference.data())[0];
  difference.dispose();
  return value;
}

describe('encoders', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it('rejects bad specs naming the field', () => {
    expectInvalidConfig({ kind: 'cnn', inputShape: [28, 28] }, 'inputShape');
    expectInvalidConfig({ kind: 'cnn', inputShape: [28, 28, 1], channels: [32, 0] }, 'channels[1]');
    expectInvalidConfig({ kind: 'resnet18', inputShape: [32, 32, 3], stem: 'tiny' }, 'stem');
    expectInvalidConfig({ kind: 'resnet50', inputShape: [32, 32, 3], widthMultiplier: -1 }, 'widthMultiplier');
    expectInvalidConfig({ ...vitPreset('vit28'), patchSize: 5 }, 'patchSize');
    expectInvalidConfig({ ...vitPreset('vit28'), numHeads: 3 }, 'numHeads');
    expectInvalidConfig({ ...vitPreset('vit28'), classToken: false, pooling: 'class' }, 'pooling');
    expectInvalidConfig({ kind: 'mlp', inputDim: 4, hidden: [] }, 'hidden');
    expectInvalidConfig({ kind: 'text', vocabSize: 10, maxLength: 8, embedDim: 8, depth: 1, numHeads: 2, padId: 10 }, 'padId');
    expectInvalidConfig({ kind: 'gru', inputShape: [1] }, 'kind');
    expect(() => createEncoder({ kind: 'mlp', inputDim: 0, hidden: [4] })).toThrow(/inputDim/);
  });

  it("withEncoderOptions replaces a preset's fields, refuses fields the encoder does not have and validates", () => {
    const vit = withEncoderOptions(encoderPreset('vit28', [28, 28, 1]), { patchSize: 7, pooling: 'mean' });
    expect(vit).toMatchObject({ kind: 'vit', inputShape: [28, 28, 1], patchSize: 7, pooling: 'mean', embedDim: 128 });
    expect(withEncoderOptions(encoderPreset('resnet18', [32, 32, 3]), { widthMultiplier: 0.5 })).toMatchObject({ widthMultiplier: 0.5 });
    expect(() => withEncoderOptions(encoderPreset('vit28', [28, 28, 1]), { patchsize: 7 })).toThrow(
      /patchsize = 7: expected an option of a vit encoder: patchSize,/,
    );
    expect(() => withEncoderOptions(encoderPreset('cnn', [28, 28, 1]), { inputShape: [32, 32, 1] })).toThrow(/inputShape/);
    expect(() => withEncoderOptions(encoderPreset('vit28', [28, 28, 1]), { patchSize: 5 })).toThrow(/patchSize = 5: expected a divisor/);
  });

  it('cnn: features [N, 128], feature map [N, 7, 7, 128] for 28×28, shape errors', () => {
    const encoder = createEncoder({ kind: 'cnn', inputShape: [28, 28, 1], seed: 1 });
    const x = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
    const features = encoder.features(x);
    const map = encoder.featureMap(x);
    expect(features.shape).toEqual([2, 128]);
    expect(map.shape).toEqual([2, 7, 7, 128]);
    // Other sizes are fine (global pooling); other channel counts and sizes below 4×4 (3 stages) are not.
    const wrong = tf.zeros([2, 28, 28, 3]) as tf.Tensor4D;
    expect(() => encoder.features(wrong)).toThrow(/\[2, 28, 28, 3\]/);
    const tooSmall = tf.zeros([2, 3, 8, 1]) as tf.Tensor4D;
    expect(() => encoder.features(tooSmall)).toThrow(/smaller than the 4×4 px/);
    tf.dispose([x, features, map, wrong, tooSmall]);
    encoder.model.dispose();
  });

  it('same seed gives the same weights', async () => {
    const spec: EncoderSpec = { kind: 'cnn', inputShape: [8, 8, 1], channels: [4, 8], seed: 7 };
    const a = createEncoder(spec);
    const b = createEncoder(spec);
    const c = createEncoder({ ...spec, seed: 8 });
    const kernel = (model: typeof a.model) => model.getWeights()[0];
    expect(await maxAbsDifference(kernel(a.model), kernel(b.model))).toBe(0);
    expect(await maxAbsDifference(kernel(a.model), kernel(c.model))).toBeGreaterThan(0);
    [a, b, c].forEach((encoder) => encoder.model.dispose());
  });

  it('resnet: stems by input size, ImageNet stem downsamples 32×, width multiplier', () => {
    const cifar = createEncoder({ kind: 'resnet18', inputShape: [16, 16, 3], widthMultiplier: 0.25 });
    const imagenet = createEncoder({ kind: 'resnet18', inputShape: [96, 96, 3], widthMultiplier: 0.25 });
    expect(cifar.featureDim).toBe(128);
    const small = tf.zeros([1, 16, 16, 3]) as tf.Tensor4D;
    const large = tf.zeros([1, 96, 96, 3]) as tf.Tensor4D;
    const cifarMap = cifar.featureMap(small);
    const imagenetMap = imagenet.featureMap(large);
    // CIFAR stem keeps full resolution until stage 2: 16 / 8 = 2. ImageNet stem: 96 / 32 = 3.
    expect(cifarMap.shape).toEqual([1, 2, 2, 128]);
    expect(imagenetMap.shape).toEqual([1, 3, 3, 128]);
    tf.dispose([small, large, cifarMap, imagenetMap]);
    cifar.model.dispose();
    imagenet.model.dispose();
  });

  it('vit: encodeTokens(embedPatches(x)) equals tokens(x); features is the class token', async () => {
    const encoder = createEncoder({ ...vitPreset('vit28'), embedDim: 32, depth: 2, seed: 3 });
    expect(encoder.numPatches).toBe(49);
    expect(encoder.gridSize).toEqual([7, 7]);
    const x = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
    const patches = encoder.embedPatches(x);
    expect(patches.shape).toEqual([2, 49, 32]);
    const encoded = encoder.encodeTokens(patches);
    const tokens = encoder.tokens(x);
    expect(tokens.shape).toEqual([2, 50, 32]);
    expect(await maxAbsDifference(encoded, tokens)).toBeLessThan(1e-5);
    const features = encoder.features(x);
    const classOutput = tf.reshape(tf.slice(tokens, [0, 0, 0], [2, 1, 32]), [2, 32]);
    expect(await maxAbsDifference(features, classOutput)).toBeLessThan(1e-6);
    // MAE: the blocks run on a subset of patch tokens.
    const visible = tf.gather(patches, tf.tensor1d([0, 5, 9, 30], 'int32'), 1) as tf.Tensor3D;
    const encodedSubset = encoder.encodeTokens(visible);
    expect(encodedSubset.shape).toEqual([2, 5, 32]);
    const classToken = encoder.classTokenEmbedding();
    expect(classToken?.shape).toEqual([32]);
    tf.dispose([x, patches, encoded, tokens, features, classOutput, visible, encodedSubset, classToken as tf.Tensor]);
    encoder.model.dispose();
  });

  it('vit: sin-cos position embedding is fixed, as MAE builds it, and mean pooling without class token', async () => {
    const encoder = createEncoder({ ...vitPreset('vit28'), embedDim: 16, depth: 1, classToken: false, positionEmbedding: 'sincos' });
    const positions = encoder.positionEmbedding();
    const reference = sincosPositionEmbedding2d(7, 7, 16);
    expect(await maxAbsDifference(positions, reference)).toBe(0);
    // Patch (row 0, column 1): first half encodes the column (sin(1), ..., cos(1)), second half row 0 (sin 0 = 0, cos 0 = 1).
    const row = Array.from((await positions.data()).slice(16, 32));
    expect(row[0]).toBeCloseTo(Math.sin(1), 6);
    expect(row[4]).toBeCloseTo(Math.cos(1), 6);
    expect(row[8]).toBeCloseTo(0, 6);
    expect(row[12]).toBeCloseTo(1, 6);
    // The embedding is not a trainable parameter.
    expect(encoder.model.trainableWeights.some((w) => w.name.includes('embeddings'))).toBe(false);
    expect(encoder.classTokenEmbedding()).toBeNull();
    const x = tf.randomNormal([2, 28, 28, 1]) as tf.Tensor4D;
    const tokens = encoder.tokens(x);
    const features = encoder.features(x);
    const meanTokens = tf.mean(tokens, 1);
    expect(tokens.shape).toEqual([2, 49, 16]);
    expect(await maxAbsDifference(features, meanTokens)).toBeLessThan(1e-5);
    tf.dispose([positions, reference, x, tokens, features, meanTokens]);
    encoder.model.dispose();
  });

  it('mlp: features [N, last hidden]', () => {
    const encoder = createEncoder({ kind: 'mlp', inputDim: 5, hidden: [16, 8] });
    const x = tf.randomNormal([3, 5]) as tf.Tensor2D;
    const features = encoder.features(x);
    expect(features.shape).toEqual([3, 8]);
    expect(encoder.featureDim).toBe(8);
    tf.dispose([x, features]);
    encoder.model.dispose();
  });

  it('text: causal, pooled at the last non-padding token, padding after it does not matter', async () => {
    const encoder = createEncoder({ kind: 'text', vocabSize: 20, maxLength: 6, embedDim: 16, depth: 2, numHeads: 2, seed: 4 });
    // Rows: [bos, 5, 6, eos, pad, pad] and the same prefix followed by other tokens after eos.
    const ids = tf.tensor2d(
      [
        [2, 5, 6, 3, 0, 0],
        [2, 5, 6, 3, 0, 0],
      ],
      undefined,
      'int32',
    );
    const tokens = encoder.tokens(ids);
    expect(tokens.shape).toEqual([2, 6, 16]);
    const features = encoder.features(ids);
    const eosOutput = tf.reshape(tf.slice(tokens, [0, 3, 0], [2, 1, 16]), [2, 16]);
    expect(await maxAbsDifference(features, eosOutput)).toBeLessThan(1e-6);
    // Causal mask: changing token 4 does not change the outputs at positions 0..3.
    const changed = tf.tensor2d([[2, 5, 6, 3, 9, 0]], undefined, 'int32');
    const changedTokens = encoder.tokens(changed);
    const prefix = tf.slice(tokens, [0, 0, 0], [1, 4, 16]);
    const changedPrefix = tf.slice(changedTokens, [0, 0, 0], [1, 4, 16]);
    expect(await maxAbsDifference(prefix, changedPrefix)).toBeLessThan(1e-6);
    const last = tf.slice(tokens, [0, 4, 0], [1, 1, 16]);
    const changedLast = tf.slice(changedTokens, [0, 4, 0], [1, 1, 16]);
    expect(await maxAbsDifference(last, changedLast)).toBeGreaterThan(1e-4);
    tf.dispose([ids, tokens, features, eosOutput, changed, changedTokens, prefix, changedPrefix, last, changedLast]);
    encoder.model.dispose();
  });
});
