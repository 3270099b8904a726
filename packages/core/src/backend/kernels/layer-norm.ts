import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { SslError } from '../../errors';
import { runOnTwoThreads } from './simd/simd-kernels';
import { requireSimdKernels, simdKernelRunsHere } from './simd-kernel-access';
import { disposeIntermediates, heapOffset } from './wasm-internals';

/*
 * Layer norm over the last axis (Ba et al. 2016) as two kernels of our own (kernels.c), for the wasm backend:
 * the forward in three passes over each row while it is in L1 (mean, variance, x̂ and y together) and the
 * closed-form backward in two per row plus one column reduction for dγ and dβ, where the same math in tfjs ops
 * (`layerNorm` in nn/layers/common.ts) makes nine and ten passes over the whole tensor. Rows are split with the
 * helper thread. Meant for `layerNorm` when `fusedLayerNormAvailable()`, as `geluTanh` uses the GELU kernels.
 */
export const LAYER_NORM_FORWARD = 'SslLayerNormForward';
export const LAYER_NORM_BACKWARD = 'SslLayerNormBackward';

/** Whether the fused layer-norm kernels run on the active backend (wasm with the SIMD module). */
export function fusedLayerNormAvailable(): boolean {
  return simdKernelRunsHere(LAYER_NORM_FORWARD);
}

/** Below this many elements the helper thread's hand-off costs more than half the work. */
const TWO_THREADS_MIN_ELEMENTS = 1 << 15;

/** The float32 bits of `value` as an int32, how kernels.c takes a float the helper thread passes on. */
function float32Bits(value: number): number {
  return new Int32Array(new Float32Array([value]).buffer)[0];
}

/** γ and β must hold one value per feature of the last axis (any shape of that size, e.g. [D] or [1, 1, D]). */
function checkPerFeature(kernel: string, width: number, tensors: Record<string, TensorInfo>): void {
  for (const [name, tensor] of Object.entries(tensors)) {
    if (tf.util.sizeFromShape(tensor.shape) !== width) {
      throw new SslError('shape-mismatch', `${kernel}: '${name}' must have one value per feature (${width}), got shape [${tensor.shape}].`);
    }
  }
}

/** Inputs x [..., D], gamma and beta (D values each); attrs { epsilon }. Outputs y, x̂ (both like x) and 1/σ ([..., 1]). */
const forward: KernelFunc = ({ inputs, attrs, backend }) => {
  const { x, gamma, beta } = inputs as unknown as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { wasm, kernels } = requireSimdKernels(backend, LAYER_NORM_FORWARD, { x, gamma, beta });
  const width = x.shape[x.shape.length - 1] ?? 1;
  checkPerFeature(LAYER_NORM_FORWARD, width, { gamma, beta });
  const count = tf.util.sizeFromShape(x.shape);
  const rows = width === 0 ? 0 : count / width;
  const y = wasm.makeOutput(x.shape, 'float32');
  const xHat = wasm.makeOutput(x.shape, 'float32');
  const inverseStd = wasm.makeOutput([...x.shape.slice(0, -1), 1], 'float32');
  const epsilonBits = float32Bits((attrs as unknown as { epsilon: number }).epsilon);
  const [xAt, gammaAt, betaAt, yAt, xHatAt, inverseAt] = [x, gamma, beta, y, xHat, inverseStd].map((t) => heapOffset(wasm, t));
  runOnTwoThreads(
    wasm,
    kernels,
    'layer_norm_forward',
    (_, first, last) => [xAt, gammaAt, betaAt, yAt, xHatAt, inverseAt, first, last, width, epsilonBits],
    rows >> 1,
    rows,
    count >= TWO_THREADS_MIN_ELEMENTS,
  );
  return [y, xHat, inverseStd];
};

/** Inputs dy, x̂ (like x), gamma (D values) and 1/σ (one per row). Outputs dx (like x), dγ and dβ (shaped like gamma). */
const backward: KernelFunc = ({ inputs, backend }) => {
  const { dy, xHat, gamma, inverseStd } = inputs as unknown as {
    dy: TensorInfo;
    xHat: TensorInfo;
    gamma: TensorInfo;
    inverseStd: TensorInfo;
  };
  const { wasm, kernels } = requireSimdKernels(backend, LAYER_NORM_BACKWARD, { dy, xHat, gamma, inverseStd });
  const width = dy.shape[dy.shape.length - 1] ?? 1;
  checkPerFeature(LAYER_NORM_BACKWARD, width, { gamma });
  const count = tf.util.sizeFromShape(dy.shape);
  const rows = width === 0 ? 0 : count / width;
  const dx = wasm.makeOutput(dy.shape, 'float32');
  const dGamma = wasm.makeOutput(gamma.shape, 'float32');
  const dBeta = wasm.makeOutput(gamma.shape, 'float32');
  const totals = wasm.makeOutput([4 * width], 'float32'); // 2·D float64 accumulators
  const [dyAt, xHatAt, gammaAt, inverseAt, dxAt] = [dy, xHat, gamma, inverseStd, dx].map((t) => heapOffset(wasm, t));
  const twoThreads = count >= TWO_THREADS_MIN_ELEMENTS;
  runOnTwoThreads(
    wasm,
    kernels,
    'layer_norm_backward',
    (_, first, last) => [dyAt, xHatAt, gammaAt, inverseAt, dxAt, first, last, width],
    rows >> 1,
    rows,
    twoThreads,
  );
  // dγ and dβ: the columns split at a multiple of 4 (SIMD lanes), each thread with its own columns of `totals`.
  const [dGammaAt, dBetaAt, totalsAt] = [dGamma, dBeta, totals].map((t) => heapOffset(wasm, t));
  runOnTwoThreads(
    wasm,
    kernels,
    'layer_norm_parameter_gradients',
    (_, first, last) => [dyAt, xHatAt, dGammaAt, dBetaAt, rows, width, first, last, totalsAt],
    Math.floor(width / 8) * 4,
    width,
    twoThreads && width >= 8,
  );
  disposeIntermediates(wasm, totals);
  return [dx, dGamma, dBeta];
};

export const layerNormForwardConfig: KernelConfig = { kernelName: LAYER_NORM_FORWARD, backendName: 'wasm', kernelFunc: forward };
export const layerNormBackwardConfig: KernelConfig = { kernelName: LAYER_NORM_BACKWARD, backendName: 'wasm', kernelFunc: backward };
