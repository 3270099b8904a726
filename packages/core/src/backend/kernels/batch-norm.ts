import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { simdKernels } from './simd/simd-kernels';
import { requireSimdKernels, simdKernelRunsHere } from './simd-kernel-access';
import { asWasmBackend, disposeIntermediates, heapFloat32, heapIndex, heapOffset, runWasmKernel } from './wasm-internals';

/*
 * Training-mode batch norm as two kernels of our own (kernels.c), for the wasm backend: the forward in
 * three passes over the activations (mean, variance, x̂ and y together) and the closed-form backward in
 * two, where the same math in tfjs ops makes about twelve and fourteen. Used by `batchNormTraining`
 * when `fusedBatchNormAvailable()`; other backends keep the ops.
 */
export const BATCH_NORM_FORWARD = 'SslBatchNormTrainingForward';
export const BATCH_NORM_BACKWARD = 'SslBatchNormTrainingBackward';

/** Whether the fused batch-norm kernels run on the active backend (wasm with the SIMD module). */
export function fusedBatchNormAvailable(): boolean {
  return simdKernelRunsHere(BATCH_NORM_FORWARD);
}

/** Inputs x [..., C], gamma [C], beta [C]; attrs { epsilon }. Outputs y, x̂ (both like x), mean, variance, 1/σ ([C] each). */
const forward: KernelFunc = ({ inputs, attrs, backend }) => {
  const { x, gamma, beta } = inputs as unknown as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { wasm, kernels } = requireSimdKernels(backend, BATCH_NORM_FORWARD, { x, gamma, beta });
  const channels = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const y = wasm.makeOutput(x.shape, 'float32');
  const xHat = wasm.makeOutput(x.shape, 'float32');
  const [mean, variance, inverseStd] = [0, 1, 2].map(() => wasm.makeOutput([channels], 'float32'));
  const totals = wasm.makeOutput([4 * channels], 'float32'); // 2·C float64 accumulators
  kernels.batch_norm_forward(
    heapOffset(wasm, x),
    heapOffset(wasm, gamma),
    heapOffset(wasm, beta),
    heapOffset(wasm, y),
    heapOffset(wasm, xHat),
    heapOffset(wasm, mean),
    heapOffset(wasm, variance),
    heapOffset(wasm, inverseStd),
    rows,
    channels,
    (attrs as unknown as { epsilon: number }).epsilon,
    heapOffset(wasm, totals),
  );
  disposeIntermediates(wasm, totals);
  return [y, xHat, mean, variance, inverseStd];
};

/** Inputs dy, x̂ (like x), gamma and 1/σ ([C]). Outputs dx (like x), dγ and dβ ([C]). */
const backward: KernelFunc = ({ inputs, backend }) => {
  const { dy, xHat, gamma, inverseStd } = inputs as unknown as {
    dy: TensorInfo;
    xHat: TensorInfo;
    gamma: TensorInfo;
    inverseStd: TensorInfo;
  };
  const { wasm, kernels } = requireSimdKernels(backend, BATCH_NORM_BACKWARD, { dy, xHat, gamma, inverseStd });
  const channels = dy.shape[dy.shape.length - 1];
  const rows = tf.util.sizeFromShape(dy.shape) / channels;
  const dx = wasm.makeOutput(dy.shape, 'float32');
  const dGamma = wasm.makeOutput([channels], 'float32');
  const dBeta = wasm.makeOutput([channels], 'float32');
  const totals = wasm.makeOutput([4 * channels], 'float32');
  kernels.batch_norm_backward(
    heapOffset(wasm, dy),
    heapOffset(wasm, xHat),
    heapOffset(wasm, gamma),
    heapOffset(wasm, inverseStd),
    heapOffset(wasm, dx),
    heapOffset(wasm, dGamma),
    heapOffset(wasm, dBeta),
    rows,
    channels,
    heapOffset(wasm, totals),
  );
  disposeIntermediates(wasm, totals);
  return [dx, dGamma, dBeta];
};

/**
 * Batch norm at inference (tf.batchNorm, which tfjs-layers calls outside training): per-channel statistics
 * folded into one scale and shift on the host, then one multiply-add per element (kernels.c), where the
 * backend's own FusedBatchNorm spent a third of a small CNN's forward pass. Statistics that are not one
 * value per channel of the last axis take the backend's kernel.
 */
const inference: KernelFunc = ({ inputs, attrs, backend }) => {
  const { x, mean, variance, offset, scale } = inputs as unknown as Record<'x' | 'mean' | 'variance', TensorInfo> &
    Partial<Record<'offset' | 'scale', TensorInfo>>;
  const wasm = asWasmBackend(backend);
  const kernels = simdKernels(wasm);
  const channels = x.shape[x.shape.length - 1] ?? 1;
  const perChannel = (t: TensorInfo | undefined) =>
    t === undefined || (t.dtype === 'float32' && tf.util.sizeFromShape(t.shape) === channels && t.shape.length <= x.shape.length);
  if (kernels === undefined || x.dtype !== 'float32' || x.shape.length === 0 || ![mean, variance, offset, scale].every(perChannel)) {
    return runWasmKernel(wasm, 'FusedBatchNorm', inputs as tf.NamedTensorInfoMap, attrs);
  }
  const epsilon = (attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
  const folded = wasm.makeOutput([2 * channels], 'float32');
  const heap = heapFloat32(wasm);
  const at = (t: TensorInfo | undefined, c: number, fallback: number) => (t === undefined ? fallback : heap[heapIndex(wasm, t) + c]);
  const base = heapIndex(wasm, folded);
  for (let c = 0; c < channels; c++) {
    const factor = at(scale, c, 1) / Math.sqrt(at(variance, c, 0) + epsilon);
    heap[base + c] = factor;
    heap[base + channels + c] = at(offset, c, 0) - at(mean, c, 0) * factor;
  }
  const y = wasm.makeOutput(x.shape, 'float32');
  kernels.scale_shift_channels(
    heapOffset(wasm, x),
    heapOffset(wasm, folded),
    heapOffset(wasm, folded) + 4 * channels,
    heapOffset(wasm, y),
    tf.util.sizeFromShape(x.shape) / channels,
    channels,
  );
  disposeIntermediates(wasm, folded);
  return y;
};

export const batchNormInferenceConfig: KernelConfig = { kernelName: 'FusedBatchNorm', backendName: 'wasm', kernelFunc: inference };
export const batchNormForwardConfig: KernelConfig = { kernelName: BATCH_NORM_FORWARD, backendName: 'wasm', kernelFunc: forward };
export const batchNormBackwardConfig: KernelConfig = { kernelName: BATCH_NORM_BACKWARD, backendName: 'wasm', kernelFunc: backward };
