import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { fineTune, layerwiseLearningRates } from './fine-tune';
import type { TrainableEncoder } from './fine-tune';
import { smallMlpEncoder, weightBytes } from './test-encoder';
import type { LabeledImageDataset } from './types';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

/** Four classes: which quadrant of an 8x8 image is bright. */
function quadrants(size: number): LabeledImageDataset {
  const images = new Uint8Array(size * 64);
  const labels = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    const label = i % 4;
    labels[i] = label;
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const quadrant = (y < 4 ? 0 : 2) + (x < 4 ? 0 : 1);
        images[i * 64 + y * 8 + x] = quadrant === label ? 200 + ((i * 7 + x) % 50) : (i * 13 + y * 3) % 60;
      }
    }
  }
  return { images, shape: [8, 8, 1], labels, numClasses: 4, size, name: 'quadrants' };
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('fineTune', () => {
  it('learns the task end to end and changes the backbone', async () => {
    const encoder = smallMlpEncoder([8, 8, 1], 16, 3);
    const data = quadrants(256);
    const before = weightBytes(encoder.model);
    const tensorsBefore = tf.memory().numTensors;
    const result = await fineTune(encoder, data, { epochs: 6, batchSize: 32, backboneLr: 1e-3, headLr: 1e-2, seed: 1 });
    expect(result.history).toHaveLength(6);
    expect(result.history[5].loss).toBeLessThan(result.history[0].loss);
    expect((await result.evaluate(quadrants(64))).top1).toBeGreaterThan(0.9);
    const after = weightBytes(encoder.model);
    expect(after.some((bytes, i) => !same(bytes, before[i]))).toBe(true);
    result.dispose();
    // Only the model's own (updated) variables remain: no leaked intermediates, optimizer slots freed.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('partial fine-tuning (unfreezeLastN = 1) leaves earlier layers bit-identical, batch-norm statistics included', async () => {
    const encoder = smallMlpEncoder([8, 8, 1], 16, 5);
    const layerBytes = (name: string) =>
      encoder.model.getLayer(name).weights.map((w) => new Uint8Array((w.read().dataSync() as Float32Array).slice().buffer));
    const hiddenBefore = layerBytes('hidden_5');
    const bnBefore = layerBytes('bn_5');
    const denseBefore = layerBytes('dense_5');
    const result = await fineTune(encoder, quadrants(128), { epochs: 2, batchSize: 32, unfreezeLastN: 1, backboneLr: 1e-3, seed: 2 });
    expect(result.trainedLayers).toEqual(['dense_5']);
    layerBytes('hidden_5').forEach((bytes, i) => expect(same(bytes, hiddenBefore[i])).toBe(true));
    layerBytes('bn_5').forEach((bytes, i) => expect(same(bytes, bnBefore[i])).toBe(true));
    expect(layerBytes('dense_5').some((bytes, i) => !same(bytes, denseBefore[i]))).toBe(true);
    result.dispose();
  });

  it('backboneLr = 0 trains the head only', async () => {
    const encoder = smallMlpEncoder([8, 8, 1], 16, 7);
    const trainable = () => encoder.model.trainableWeights.map((w) => new Uint8Array((w.read().dataSync() as Float32Array).slice().buffer));
    const before = trainable();
    const tensorsBefore = tf.memory().numTensors;
    const result = await fineTune(encoder, quadrants(64), { epochs: 1, backboneLr: 0, optimizer: 'sgd', seed: 3 });
    trainable().forEach((bytes, i) => expect(same(bytes, before[i])).toBe(true));
    expect(result.trainedLayers).toEqual([]);
    result.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('layer-wise decay: block l of L trains at backboneLr · decay^(L − l), batch norm in its layer’s block; one Adam step shows each rate', async () => {
    // dense → BN → ReLU → dense → dense: three blocks, the batch norm in the first one's.
    const model = tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [8, 8, 1] }),
        tfl.layers.dense({ units: 12, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }), name: 'stem' }),
        tfl.layers.batchNormalization({ name: 'stem_bn' }),
        tfl.layers.reLU(),
        tfl.layers.dense({ units: 10, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }), name: 'middle' }),
        tfl.layers.dense({ units: 8, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }), name: 'top' }),
      ],
    });
    const encoder: TrainableEncoder = {
      model,
      featureDim: 8,
      features: (x, o) => model.apply(x, { training: o?.training ?? false }) as tf.Tensor2D,
    };
    const backboneLr = 1e-3;
    const decay = 0.5;
    const expected = [
      { depth: 1, layers: ['stem', 'stem_bn'], lr: backboneLr * decay ** 2 },
      { depth: 2, layers: ['middle'], lr: backboneLr * decay },
      { depth: 3, layers: ['top'], lr: backboneLr },
    ];
    expect(layerwiseLearningRates(model, { backboneLr, layerDecay: decay })).toEqual(expected);
    expect(() => layerwiseLearningRates(model, { backboneLr, layerDecay: 0 })).toThrow(/layerDecay/);
    expect(() => layerwiseLearningRates(model, { backboneLr, layerDecay: 1.5 })).toThrow(/layerDecay/);

    const kernel = (name: string) => Float32Array.from(model.getLayer(name).getWeights()[0].dataSync());
    const before = Object.fromEntries(['stem', 'stem_bn', 'middle', 'top'].map((name) => [name, kernel(name)]));
    // One step (batch = data): Adam's first update is lr · ĝ/(|ĝ| + ε), i.e. exactly lr for every weight whose
    // gradient is not ~0, so the largest change of a layer's weights is the rate it was trained at.
    const result = await fineTune(encoder, quadrants(32), {
      epochs: 1,
      batchSize: 32,
      backboneLr,
      headLr: 1e-2,
      layerDecay: decay,
      seed: 4,
    });
    expect(result.learningRates).toEqual(expected);
    for (const { layers, lr } of expected) {
      for (const name of layers) {
        const after = kernel(name);
        const largestStep = after.reduce((max, value, i) => Math.max(max, Math.abs(value - before[name][i])), 0);
        expect(largestStep / lr, name).toBeCloseTo(1, 3);
      }
    }
    result.dispose();
  });

  it('rejects unlabeled data and bad settings', async () => {
    const encoder = smallMlpEncoder([8, 8, 1], 16, 9);
    const { labels, ...unlabeled } = quadrants(8);
    expect(labels).toBeDefined();
    await expect(fineTune(encoder, unlabeled, { epochs: 1 })).rejects.toThrow(/needs labels/);
    await expect(fineTune(encoder, quadrants(8), { epochs: 0 })).rejects.toThrow(/epochs/);
  });
});
