import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import { SslError, formatShape } from '../errors';
import type { Encoder, ForwardOptions } from './encoder';
import { forwardKwargs } from './encoder';

/*
 * Running a network with weights it does not hold, for inner-loop updates that must be differentiated
 * through: MAML (Finn et al. 2017, eq. 1) adapts θ' = θ − α∇θ L_train(θ) and its meta-gradient is
 * ∇θ L_test(f(θ')), which needs the forward at θ' to be a function of the tensor θ', not of variables.
 *
 * Every tfjs-layers layer (the stock ones and ours) gets its weights from LayerVariable.read() at call
 * time. For the length of a call, each LayerVariable named in the given map reads as the given tensor;
 * ops then record the tensor on the gradient tape like any other input, so gradients flow back to
 * whatever computed it. Writes (batch norm's moving averages) are skipped so that no variable changes.
 */

type PatchedKey = 'read' | 'write';

/** Puts back the instance properties `read`/`write` exactly as they were (usually: absent, so the prototype's). */
function restore(variable: tfl.LayerVariable, saved: Map<PatchedKey, PropertyDescriptor | undefined>): void {
  for (const [key, descriptor] of saved) {
    if (descriptor === undefined) delete (variable as unknown as Record<string, unknown>)[key];
    else Object.defineProperty(variable, key, descriptor);
  }
}

function checkSubstitutes(model: tfl.LayersModel, weights: tf.NamedTensorMap): void {
  const byName = new Map(model.weights.map((weight) => [weight.name, weight]));
  for (const [name, tensor] of Object.entries(weights)) {
    const weight = byName.get(name);
    if (weight === undefined) {
      const known = [...byName.keys()].slice(0, 6).join(', ');
      throw new SslError(
        'invalid-config',
        `No weight named '${name}' in model '${model.name}'; key the map by the model's weight names (${known}, ...), e.g. from trainableWeightMap(model).`,
      );
    }
    if (tensor.shape.length !== weight.shape.length || tensor.shape.some((d, i) => d !== weight.shape[i])) {
      throw new SslError(
        'shape-mismatch',
        `Weight '${name}' has shape ${formatShape(weight.shape as number[])}; the tensor given for it has shape ${formatShape(tensor.shape)}.`,
      );
    }
    if (tensor.dtype !== weight.dtype) {
      throw new SslError(
        'dtype-mismatch',
        `Weight '${name}' is ${weight.dtype}; the tensor given for it is ${tensor.dtype}. Cast it first.`,
      );
    }
  }
}

/**
 * Runs `fn` with the weights of `model` named in `weights` reading as the given tensors, and with no
 * weight of the model written to (batch norm's moving statistics stay as they are). No variable is
 * changed; everything is restored when `fn` returns or throws. Weights left out of the map keep their
 * values. Use it to call an encoder's own methods (`features`, `tokens`, ...) at other weights.
 */
export function withWeights<T>(model: tfl.LayersModel, weights: tf.NamedTensorMap, fn: () => T): T {
  checkSubstitutes(model, weights);
  ensureSecondOrderConvGradient();
  const patched: Array<[tfl.LayerVariable, Map<PatchedKey, PropertyDescriptor | undefined>]> = [];
  try {
    for (const variable of model.weights) {
      const saved = new Map<PatchedKey, PropertyDescriptor | undefined>([
        ['read', Object.getOwnPropertyDescriptor(variable, 'read')],
        ['write', Object.getOwnPropertyDescriptor(variable, 'write')],
      ]);
      patched.push([variable, saved]);
      const substitute = weights[variable.name];
      if (substitute !== undefined)
        Object.defineProperty(variable, 'read', { value: () => substitute, configurable: true, writable: true });
      Object.defineProperty(variable, 'write', { value: () => variable, configurable: true, writable: true });
    }
    return fn();
  } finally {
    for (const [variable, saved] of patched) restore(variable, saved);
  }
}

/** The current values of a model's trainable weights, by name: the θ to start an inner loop from (the variables themselves, not copies). */
export function trainableWeightMap(model: tfl.LayersModel): tf.NamedTensorMap {
  return Object.fromEntries(model.trainableWeights.map((weight) => [weight.name, weight.read()]));
}

/**
 * The output of a network at the given weights instead of its own (see `withWeights`): an encoder's pooled
 * features, or a LayersModel's outputs. Differentiable in the given tensors to any order the network's
 * ops support (dense, conv, ReLU, pooling by averaging, layer norm's closed form for first order).
 */
export function functionalForward(
  encoder: Encoder,
  weights: tf.NamedTensorMap,
  inputs: tf.Tensor4D | tf.Tensor2D,
  options?: ForwardOptions,
): tf.Tensor2D;
export function functionalForward(
  model: tfl.LayersModel,
  weights: tf.NamedTensorMap,
  inputs: tf.Tensor | tf.Tensor[],
  options?: ForwardOptions,
): tf.Tensor | tf.Tensor[];
export function functionalForward(
  network: Encoder | tfl.LayersModel,
  weights: tf.NamedTensorMap,
  inputs: tf.Tensor | tf.Tensor[],
  options: ForwardOptions = {},
): tf.Tensor | tf.Tensor[] {
  if (isEncoder(network)) return withWeights(network.model, weights, () => network.features(inputs as tf.Tensor4D | tf.Tensor2D, options));
  return withWeights(network, weights, () => network.apply(inputs, forwardKwargs(options)) as tf.Tensor | tf.Tensor[]);
}

function isEncoder(network: Encoder | tfl.LayersModel): network is Encoder {
  return 'features' in network && 'model' in network;
}

/**
 * tfjs-core 4.22 registers no gradient for Conv2DBackpropFilter (the filter gradient of a conv), so a
 * second-order gradient through a conv — MAML's meta-gradient of a CNN — throws. This is TensorFlow's
 * _Conv2DBackpropFilterGrad: dW = Σ x ⊛ dy is linear in x and in dy, so for an upstream gradient ddW,
 * ∂/∂x = conv2dTranspose(dy, ddW) and ∂/∂dy = conv2d(x, ddW). Registered once, and only if tfjs has none.
 */
function ensureSecondOrderConvGradient(): void {
  if (tf.getGradient(tf.Conv2DBackpropFilter) !== undefined) return;
  tf.registerGradient({
    kernelName: tf.Conv2DBackpropFilter,
    inputsToSave: ['x', 'dy'],
    gradFunc: (ddw: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      if (dataFormat !== 'NHWC') throw new SslError('backend', `Second-order conv gradients support NHWC only, not ${dataFormat}.`);
      const filterGradient = ddw as tf.Tensor4D;
      return {
        x: () => tf.conv2dTranspose(dy, filterGradient, x.shape, strides, pad as 'same' | 'valid' | number, dimRoundingMode),
        dy: () => tf.conv2d(x, filterGradient, strides, pad as 'same' | 'valid' | number, 'NHWC', 1, dimRoundingMode),
      };
    },
  });
}
