import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { SslError, initBackend, tfl } from '@ssl/core';
import { patchClassifier } from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describe('patchClassifier', () => {
  it('without a per-patch layer is Linear → BN → ReLU → Linear on the concatenated features', () => {
    const model = patchClassifier({ patches: 3, featureDim: 4, patchLayerDim: 0, hiddenDim: 5, classes: 7, seed: 1 });
    expect(model.inputs[0].shape).toEqual([null, 12]);
    expect(model.outputs[0].shape).toEqual([null, 7]);
    // Trainable weights first (kernel, BN γ and β, kernel, bias), then BN's moving mean and variance.
    expect(model.getWeights().map((w) => w.shape)).toEqual([[12, 5], [5], [5], [5, 7], [7], [5], [5]]);
  });

  it('passes every patch through the same per-patch layer: swapping two patches swaps their codes', () => {
    const model = patchClassifier({ patches: 3, featureDim: 4, patchLayerDim: 6, hiddenDim: 5, classes: 7, seed: 2 });
    // The per-patch layer's kernel is [D, patchLayerDim] (one set of weights for all patches), the classifier
    // then sees patches · patchLayerDim features.
    expect(model.getWeights()[0].shape).toEqual([4, 6]);
    expect(model.getWeights().some((w) => w.shape[0] === 18)).toBe(true);
    const codes = tf.tidy(() => {
      // Layers: input, reshape, dense, batch norm, ReLU (the per-patch codes [N, patches, width]), flatten, classifier.
      const perPatch = tfl.model({ inputs: model.inputs, outputs: model.layers[4].output as tfl.SymbolicTensor });
      const features = tf.randomNormal([1, 3, 4], 0, 1, 'float32', 5);
      const swapped = tf.concat(
        [tf.slice(features, [0, 1, 0], [1, 1, 4]), tf.slice(features, [0, 0, 0], [1, 1, 4]), tf.slice(features, [0, 2, 0], [1, 1, 4])],
        1,
      );
      const code = (x: tf.Tensor) => (perPatch.predict(tf.reshape(x, [1, 12])) as tf.Tensor).reshape([3, 6]).arraySync() as number[][];
      return { original: code(features), swapped: code(swapped) };
    });
    for (let j = 0; j < 6; j++) {
      expect(codes.swapped[0][j]).toBeCloseTo(codes.original[1][j], 5);
      expect(codes.swapped[1][j]).toBeCloseTo(codes.original[0][j], 5);
      expect(codes.swapped[2][j]).toBeCloseTo(codes.original[2][j], 5);
    }
  });

  it('refuses a negative or fractional per-patch width by its option name', () => {
    expect(() => patchClassifier({ patches: 2, featureDim: 4, patchLayerDim: -1, hiddenDim: 5, classes: 8 })).toThrowError(SslError);
    expect(() => patchClassifier({ patches: 2, featureDim: 4, patchLayerDim: 2.5, hiddenDim: 5, classes: 8 })).toThrowError(
      /patchLayerDim/,
    );
  });
});
