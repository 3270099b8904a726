import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Constructor arguments every tfjs layer accepts (name, inputShape, trainable, ...). */
export type BaseLayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/** Shape as tfjs-layers writes it: null for unknown dimensions. */
export type LayerShape = (number | null)[];

/** The keyword arguments tfjs-layers passes to `Layer.call`. */
export type CallKwargs = { training?: boolean; [key: string]: unknown };

export function singleTensor(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

export function singleShape(shape: LayerShape | LayerShape[]): LayerShape {
  return Array.isArray(shape[0]) ? (shape[0] as LayerShape) : (shape as LayerShape);
}

/**
 * Layer normalization over the last axis (Ba et al. 2016) with tensors, for use inside custom layers.
 * `gamma`/`beta` broadcast over the last axis.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, epsilon))), gamma), beta);
  });
}

/** Exact GELU, x·Φ(x) (Hendrycks & Gimpel 2016), as PyTorch's nn.GELU default. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))));
}

/** Applies a [in, out] kernel (and bias) to the last axis of a tensor of any rank ≥ 2. */
export function denseLastAxis(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const inDim = x.shape[x.shape.length - 1] as number;
    const outDim = kernel.shape[1] as number;
    const flat = tf.reshape(x, [-1, inDim]);
    let y = tf.matMul(flat, kernel);
    if (bias !== null) y = tf.add(y, bias);
    return tf.reshape(y, [...x.shape.slice(0, -1), outDim]);
  });
}
