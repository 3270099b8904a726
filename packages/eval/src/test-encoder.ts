// Test-only: a small tfjs-layers CNN (conv + batch norm + dense) wrapped as a trainable encoder, built
// directly with tfjs-layers so eval's tests do not depend on @ssl/core's encoder zoo.
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { TrainableEncoder } from './fine-tune';

export function smallCnnEncoder(shape: [number, number, number], featureDim = 16, seed = 1): TrainableEncoder {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: shape,
        filters: 4,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        kernelInitializer: tfl.initializers.glorotUniform({ seed }),
        name: `conv_${seed}`,
      }),
      tfl.layers.batchNormalization({ name: `bn_${seed}` }),
      tfl.layers.reLU(),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: featureDim, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }), name: `dense_${seed}` }),
    ],
  });
  return {
    model,
    featureDim,
    features: (inputs, options) => model.apply(inputs, { training: options?.training ?? false }) as tf.Tensor2D,
  };
}

/** Every weight of a model (trainable and not) as bytes, for bit-for-bit comparisons. */
export function weightBytes(model: tfl.LayersModel): Uint8Array[] {
  return model.weights.map((w) => new Uint8Array((w.read().dataSync() as Float32Array).slice().buffer));
}

/** Dense + batch norm + dense: trainable on the plain wasm backend (no conv gradients needed). */
export function smallMlpEncoder(shape: [number, number, number], featureDim = 16, seed = 1): TrainableEncoder {
  const model = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: shape }),
      tfl.layers.dense({ units: 32, kernelInitializer: tfl.initializers.glorotUniform({ seed }), name: `hidden_${seed}` }),
      tfl.layers.batchNormalization({ name: `bn_${seed}` }),
      tfl.layers.reLU(),
      tfl.layers.dense({ units: featureDim, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }), name: `dense_${seed}` }),
    ],
  });
  return {
    model,
    featureDim,
    features: (inputs, options) => model.apply(inputs, { training: options?.training ?? false }) as tf.Tensor2D,
  };
}
