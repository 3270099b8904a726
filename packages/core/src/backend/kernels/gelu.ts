import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { runOnTwoThreads } from './simd/simd-kernels';
import { requireSimdKernels, simdKernelRunsHere } from './simd-kernel-access';
import { heapOffset } from './wasm-internals';

/*
 * GELU's tanh form, x·σ(k·x·(1 + c·x²)), and its gradient as one pass each (kernels.c), for the wasm backend.
 * Composed of tfjs ops the forward is seven element-wise passes and the gradient eight: in a ViT the MLP's
 * activation cost a quarter of inference. Used by `geluTanh` when `geluKernelsAvailable()`; other backends
 * keep the ops.
 */
export const GELU_TANH_FORWARD = 'SslGeluTanhForward';
export const GELU_TANH_BACKWARD = 'SslGeluTanhBackward';
/**
 * The exact GELU x·Φ(x) in one pass (kernels.c `gelu_exact_forward`, erf as the Erf kernel computes it), where the
 * composed form runs five (multiply, erf, add, multiply, multiply). Attribute `keepCdf`: also output Φ(x), which the
 * gradient reads; without it (inference) one output.
 */
export const GELU_EXACT_FORWARD = 'SslGeluExactForward';

/** Whether the GELU kernels run on the active backend (wasm with the SIMD module). */
export function geluKernelsAvailable(): boolean {
  return simdKernelRunsHere(GELU_TANH_FORWARD);
}

/** Below this many elements the helper thread's hand-off costs more than half the pass. */
const TWO_THREADS_MIN_ELEMENTS = 1 << 16;

/** Splits [0, count) at a multiple of 4 (SIMD lanes), so only the second half can have a scalar tail. */
function half(count: number): number {
  return Math.floor(count / 8) * 4;
}

/** Input x. Outputs y = GELU(x) and the gate σ(·) (both like x). */
const forward: KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as unknown as { x: TensorInfo };
  const { wasm, kernels } = requireSimdKernels(backend, GELU_TANH_FORWARD, { x });
  const y = wasm.makeOutput(x.shape, 'float32');
  const gate = wasm.makeOutput(x.shape, 'float32');
  const count = tf.util.sizeFromShape(x.shape);
  const [xAt, yAt, gateAt] = [x, y, gate].map((t) => heapOffset(wasm, t));
  runOnTwoThreads(
    wasm,
    kernels,
    'gelu_tanh_forward',
    (_, begin, end) => [xAt + 4 * begin, yAt + 4 * begin, gateAt + 4 * begin, end - begin],
    half(count),
    count,
    count >= TWO_THREADS_MIN_ELEMENTS,
  );
  return [y, gate];
};

/** Inputs dy, x and the forward's gate (all alike). Output dx. */
const backward: KernelFunc = ({ inputs, backend }) => {
  const { dy, x, gate } = inputs as unknown as { dy: TensorInfo; x: TensorInfo; gate: TensorInfo };
  const { wasm, kernels } = requireSimdKernels(backend, GELU_TANH_BACKWARD, { dy, x, gate });
  const dx = wasm.makeOutput(x.shape, 'float32');
  const count = tf.util.sizeFromShape(x.shape);
  const [dyAt, xAt, gateAt, dxAt] = [dy, x, gate, dx].map((t) => heapOffset(wasm, t));
  runOnTwoThreads(
    wasm,
    kernels,
    'gelu_tanh_backward',
    (_, begin, end) => [dyAt + 4 * begin, xAt + 4 * begin, gateAt + 4 * begin, dxAt + 4 * begin, end - begin],
    half(count),
    count,
    count >= TWO_THREADS_MIN_ELEMENTS,
  );
  return dx;
};

/** Input x. Outputs y = x·Φ(x) and, with attribute keepCdf, Φ(x) (both like x). */
const exactForward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as unknown as { x: TensorInfo };
  const keepCdf = (attrs as { keepCdf?: boolean } | undefined)?.keepCdf === true;
  const { wasm, kernels } = requireSimdKernels(backend, GELU_EXACT_FORWARD, { x });
  const y = wasm.makeOutput(x.shape, 'float32');
  const cdf = keepCdf ? wasm.makeOutput(x.shape, 'float32') : undefined;
  const count = tf.util.sizeFromShape(x.shape);
  const [xAt, yAt] = [x, y].map((t) => heapOffset(wasm, t));
  const cdfAt = cdf === undefined ? 0 : heapOffset(wasm, cdf);
  runOnTwoThreads(
    wasm,
    kernels,
    'gelu_exact_forward',
    (_, begin, end) => [xAt + 4 * begin, yAt + 4 * begin, cdf === undefined ? 0 : cdfAt + 4 * begin, end - begin],
    half(count),
    count,
    count >= TWO_THREADS_MIN_ELEMENTS,
  );
  return cdf === undefined ? [y] : [y, cdf];
};

export const geluTanhForwardConfig: KernelConfig = { kernelName: GELU_TANH_FORWARD, backendName: 'wasm', kernelFunc: forward };
export const geluTanhBackwardConfig: KernelConfig = { kernelName: GELU_TANH_BACKWARD, backendName: 'wasm', kernelFunc: backward };
export const geluExactForwardConfig: KernelConfig = { kernelName: GELU_EXACT_FORWARD, backendName: 'wasm', kernelFunc: exactForward };
