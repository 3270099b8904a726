import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import { GELU_EXACT_FORWARD, GELU_TANH_BACKWARD, GELU_TANH_FORWARD, geluKernelsAvailable } from '../../backend/kernels/gelu';
import { simdKernelRunsHere } from '../../backend/kernels/simd-kernel-access';
import { LAYER_NORM_BACKWARD, LAYER_NORM_FORWARD, fusedLayerNormAvailable } from '../../backend/kernels/layer-norm';

/**
 * Whether a gradient tape is recording (inside tf.grad, variableGrads, ... and outside noGradient). Off it, the ops
 * below skip their custom gradients and what they would keep for them (tfjs-core keeps the depth in its engine
 * state, not in its public typings).
 */
function recordingGradients(): boolean {
  return ((tf.engine() as unknown as { state: { gradientDepth?: number } }).state.gradientDepth ?? 1) > 0;
}

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

/** Layer norm through the two kernels, with the backward kernel as its gradient. */
export function fusedLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  const normalize = tf.customGrad(((input: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, save: tf.GradSaveFunc) => {
    const [value, xHat, inverseStd] = tf
      .engine()
      .runKernel(LAYER_NORM_FORWARD, { x: input, gamma: scale, beta: offset }, { epsilon }) as tf.Tensor[];
    save([xHat, inverseStd, scale]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(LAYER_NORM_BACKWARD, { dy, xHat: saved[0], gamma: saved[2], inverseStd: saved[1] }, {}) as tf.Tensor[],
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return normalize(x, gamma, beta);
}

/**
 * Layer normalization over the last axis (Ba et al. 2016) with tensors, for use inside custom layers.
 * `gamma`/`beta` broadcast over the last axis. The gradient is the closed form (x̂ = (x − μ)/σ over the
 * D features of a row): dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))/σ with dx̂ = dy·γ, dγ = Σ dy·x̂, dβ = Σ dy,
 * a few passes where differentiating tf.moments takes a dozen.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  // On wasm, kernels.c does the same math in three passes forward and two backward (backend/kernels/layer-norm.ts).
  if (x.dtype === 'float32' && fusedLayerNormAvailable()) return fusedLayerNorm(x, gamma, beta, epsilon);
  return composedLayerNorm(x, gamma, beta, epsilon);
}

/** `layerNorm` in tfjs ops, on any backend (the reference of the fused kernels). */
export function composedLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  const leadingAxes = x.shape.slice(0, -1).map((_, i) => i);
  const normalize = tf.customGrad(((input: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, save: tf.GradSaveFunc) => {
    const mean = tf.mean(input, -1, true);
    const centered = tf.sub(input, mean);
    const inverseStd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), -1, true), epsilon));
    const normalized = tf.mul(centered, inverseStd);
    save([normalized, inverseStd, scale]);
    return {
      value: tf.add(tf.mul(normalized, scale), offset),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, invStd, gammaSaved] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dxHat = tf.mul(dy, gammaSaved);
        const meanDxHat = tf.mean(dxHat, -1, true);
        const meanDxHatXHat = tf.mean(tf.mul(dxHat, xHat), -1, true);
        const dx = tf.mul(tf.sub(tf.sub(dxHat, meanDxHat), tf.mul(xHat, meanDxHatXHat)), invStd);
        const dGamma = tf.reshape(tf.sum(tf.mul(dy, xHat), leadingAxes), scale.shape);
        const dBeta = tf.reshape(tf.sum(dy, leadingAxes), offset.shape);
        return [dx, dGamma, dBeta];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return normalize(x, gamma, beta);
}

/**
 * Exact GELU, x·Φ(x) (Hendrycks & Gimpel 2016), as PyTorch's nn.GELU default. The gradient is the
 * closed form Φ(x) + x·φ(x), one exp where differentiating the composition costs several passes.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  const fused = x.dtype === 'float32' && simdKernelRunsHere(GELU_EXACT_FORWARD);
  // Inference (nothing records a gradient): one pass, no Φ(x) kept.
  if (fused && !recordingGradients()) return (tf.engine().runKernel(GELU_EXACT_FORWARD, { x }, {}) as tf.Tensor[])[0];
  const exact = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    let value: tf.Tensor;
    let cdf: tf.Tensor;
    if (fused) [value, cdf] = tf.engine().runKernel(GELU_EXACT_FORWARD, { x: input }, { keepCdf: true }) as tf.Tensor[];
    else {
      cdf = tf.mul(tf.add(1, tf.erf(tf.mul(input, Math.SQRT1_2))), 0.5);
      value = tf.mul(input, cdf);
    }
    save([input, cdf]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [a, phi] = saved as [tf.Tensor, tf.Tensor];
        const density = tf.mul(tf.exp(tf.mul(tf.square(a), -0.5)), 1 / Math.sqrt(2 * Math.PI));
        return tf.mul(dy, tf.add(phi, tf.mul(a, density)));
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return exact(x);
}

const GELU_TANH_SCALE = 2 * Math.sqrt(2 / Math.PI);

/**
 * GELU's tanh approximation, PyTorch's nn.GELU(approximate='tanh'): 0.5·x·(1 + tanh(u)) with
 * u = √(2/π)·(x + 0.044715·x³), computed as x·σ(2u), which is the same function. σ is a vectorized
 * kernel on wasm where tanh, erf and pow are scalar and 5-10x slower; the gradient is closed-form:
 * σ(2u) + x·σ(2u)(1 − σ(2u))·2u'.
 */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  if (x.dtype === 'float32' && geluKernelsAvailable()) {
    // One pass each way on wasm (backend/kernels/gelu.ts); the same function and gradient as below. Only the
    // input is kept for the backward (as PyTorch's GELU): the gate is recomputed there by the same forward kernel,
    // bit for bit, so a transformer's MLP holds one [tokens, 4·width] tensor fewer per block until its backward.
    const fused = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
      const [value, gate] = tf.engine().runKernel(GELU_TANH_FORWARD, { x: input }, {}) as tf.Tensor[];
      gate.dispose();
      save([input]);
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [recomputed, recomputedGate] = tf.engine().runKernel(GELU_TANH_FORWARD, { x: saved[0] }, {}) as tf.Tensor[];
          recomputed.dispose();
          const dx = tf.engine().runKernel(GELU_TANH_BACKWARD, { dy, x: saved[0], gate: recomputedGate }, {}) as tf.Tensor;
          recomputedGate.dispose();
          return dx;
        },
      };
    }) as Parameters<typeof tf.customGrad>[0]);
    return fused(x);
  }
  const approximate = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const squared = tf.square(input);
    const gate = tf.sigmoid(tf.mul(tf.mul(input, tf.add(tf.mul(squared, 0.044715), 1)), GELU_TANH_SCALE));
    save([input, squared, gate]);
    return {
      value: tf.mul(input, gate),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [a, a2, s] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        // d(2u)/dx = GELU_TANH_SCALE·(1 + 3·0.044715·x²)
        const slope = tf.mul(tf.add(tf.mul(a2, 3 * 0.044715), 1), GELU_TANH_SCALE);
        const gateGradient = tf.mul(tf.mul(s, tf.sub(1, s)), slope);
        return tf.mul(dy, tf.add(s, tf.mul(a, gateGradient)));
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return approximate(x);
}

/**
 * x + bias along the last axis, keeping nothing for the backward. tf.add saves both its inputs on the gradient tape
 * though its gradient reads only their shapes, so a dense layer's product before the bias stayed alive until the
 * backward beside its output (PyTorch's addmm keeps neither). The same values and gradients as tf.add: dy, and dy
 * summed over the leading axes for the bias.
 */
export function addBias(x: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const channels = x.shape[x.shape.length - 1];
  if (bias.rank !== 1 || bias.shape[0] !== channels || x.rank < 2 || !recordingGradients()) return tf.add(x, bias);
  const leadingAxes = x.shape.slice(0, -1).map((_, axis) => axis);
  const [inputShape, biasShape] = [x.shape, bias.shape];
  const add = tf.customGrad(((input: tf.Tensor, offset: tf.Tensor) => ({
    value: tf.add(input, offset),
    gradFunc: (dy: tf.Tensor) => [tf.reshape(dy, inputShape), tf.reshape(tf.sum(dy, leadingAxes), biasShape)],
  })) as Parameters<typeof tf.customGrad>[0]);
  return add(x, bias);
}

/**
 * a + b of one shape (a residual connection), keeping nothing for the backward: tf.add would keep both inputs alive
 * until then for their shapes (see addBias). The same values and gradients as tf.add.
 */
export function addResidual(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (!tf.util.arraysEqual(a.shape, b.shape) || a.dtype !== 'float32' || b.dtype !== 'float32' || !recordingGradients())
    return tf.add(a, b);
  const shape = a.shape;
  const add = tf.customGrad(((first: tf.Tensor, second: tf.Tensor) => ({
    value: tf.add(first, second),
    gradFunc: (dy: tf.Tensor) => [tf.reshape(dy, shape), tf.reshape(dy, shape)],
  })) as Parameters<typeof tf.customGrad>[0]);
  return add(a, b);
}

/** Applies a [in, out] kernel (and bias) to the last axis of a tensor of any rank ≥ 2. */
export function denseLastAxis(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  return tf.tidy(() => {
    const inDim = x.shape[x.shape.length - 1] as number;
    const outDim = kernel.shape[1] as number;
    const flat = tf.reshape(x, [-1, inDim]);
    let y = tf.matMul(flat, kernel);
    // addBias: the product before the bias is freed when this tidy ends (tf.add would save it for the backward).
    if (bias !== null) y = addBias(y, bias);
    return tf.reshape(y, [...x.shape.slice(0, -1), outDim]);
  });
}
