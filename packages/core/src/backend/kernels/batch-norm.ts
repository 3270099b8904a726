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
/**
 * The same pair keeping no x̂: the forward outputs y, mean, variance and 1/σ, and the backward takes the input x and
 * the mean and recomputes x̂ = (x − μ)/σ as it reads it. For a batch norm after a convolution, the step keeps the
 * convolution's output anyway (until the end of the forward pass), so saving x instead of a full-size x̂ removes one
 * activation-sized tensor per batch norm from the step's peak: measured on resnet18-cifar32 by freeing the
 * convolution outputs instead, wasm heap 2 731 → 2 214 MB (bench/heap-growth.ts). The pair `batchNormTraining` (nn/batch-norm.ts)
 * runs; the pair with x̂ stays for A/B runs and as the reference of its tests.
 */
export const BATCH_NORM_FORWARD_KEEPING_INPUT = 'SslBatchNormTrainingForwardKeepingInput';
export const BATCH_NORM_BACKWARD_FROM_INPUT = 'SslBatchNormTrainingBackwardFromInput';

/** Whether the fused batch-norm kernels run on the active backend (wasm with the SIMD module). */
export function fusedBatchNormAvailable(): boolean {
  return simdKernelRunsHere(BATCH_NORM_FORWARD);
}

/** Inputs x [..., C], gamma [C], beta [C]; attrs { epsilon }. Outputs y, x̂ (both like x), mean, variance, 1/σ ([C] each). */
const forward: KernelFunc = (args) => forwardKernel(args, true);

/** As `forward` without x̂: outputs y (like x), mean, variance, 1/σ ([C] each). */
const forwardKeepingInput: KernelFunc = (args) => forwardKernel(args, false);

function forwardKernel({ inputs, attrs, backend }: Parameters<KernelFunc>[0], withXHat: boolean): TensorInfo[] {
  const { x, gamma, beta } = inputs as unknown as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const kernelName = withXHat ? BATCH_NORM_FORWARD : BATCH_NORM_FORWARD_KEEPING_INPUT;
  const { wasm, kernels } = requireSimdKernels(backend, kernelName, { x, gamma, beta });
  const channels = x.shape[x.shape.length - 1];
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const y = wasm.makeOutput(x.shape, 'float32');
  const xHat = withXHat ? wasm.makeOutput(x.shape, 'float32') : undefined;
  const [mean, variance, inverseStd] = [0, 1, 2].map(() => wasm.makeOutput([channels], 'float32'));
  const totals = wasm.makeOutput([4 * channels], 'float32'); // 2·C float64 accumulators
  kernels.batch_norm_forward(
    heapOffset(wasm, x),
    heapOffset(wasm, gamma),
    heapOffset(wasm, beta),
    heapOffset(wasm, y),
    xHat === undefined ? 0 : heapOffset(wasm, xHat),
    heapOffset(wasm, mean),
    heapOffset(wasm, variance),
    heapOffset(wasm, inverseStd),
    rows,
    channels,
    (attrs as unknown as { epsilon: number }).epsilon,
    heapOffset(wasm, totals),
  );
  disposeIntermediates(wasm, totals);
  return xHat === undefined ? [y, mean, variance, inverseStd] : [y, xHat, mean, variance, inverseStd];
}

/** Inputs dy, x̂ (like x), gamma and 1/σ ([C]). Outputs dx (like x), dγ and dβ ([C]). */
const backward: KernelFunc = ({ inputs, backend }) => {
  const { dy, xHat, gamma, inverseStd } = inputs as unknown as Record<'dy' | 'xHat' | 'gamma' | 'inverseStd', TensorInfo>;
  return backwardKernel(backend, BATCH_NORM_BACKWARD, dy, xHat, undefined, gamma, inverseStd);
};

/** Inputs dy, x (like x), mean, gamma and 1/σ ([C]): x̂ recomputed from x. Outputs dx (like x), dγ and dβ ([C]). */
const backwardFromInput: KernelFunc = ({ inputs, backend }) => {
  const { dy, x, mean, gamma, inverseStd } = inputs as unknown as Record<'dy' | 'x' | 'mean' | 'gamma' | 'inverseStd', TensorInfo>;
  return backwardKernel(backend, BATCH_NORM_BACKWARD_FROM_INPUT, dy, x, mean, gamma, inverseStd);
};

function backwardKernel(
  backend: unknown,
  kernelName: string,
  dy: TensorInfo,
  xHat: TensorInfo,
  mean: TensorInfo | undefined,
  gamma: TensorInfo,
  inverseStd: TensorInfo,
): TensorInfo[] {
  const { wasm, kernels } = requireSimdKernels(backend, kernelName, {
    dy,
    xHat,
    gamma,
    inverseStd,
    ...(mean === undefined ? {} : { mean }),
  });
  const channels = dy.shape[dy.shape.length - 1];
  const rows = tf.util.sizeFromShape(dy.shape) / channels;
  const dx = wasm.makeOutput(dy.shape, 'float32');
  const dGamma = wasm.makeOutput([channels], 'float32');
  const dBeta = wasm.makeOutput([channels], 'float32');
  const totals = wasm.makeOutput([4 * channels], 'float32');
  kernels.batch_norm_backward(
    heapOffset(wasm, dy),
    heapOffset(wasm, xHat),
    mean === undefined ? 0 : heapOffset(wasm, mean),
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
}

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
export const batchNormForwardKeepingInputConfig: KernelConfig = {
  kernelName: BATCH_NORM_FORWARD_KEEPING_INPUT,
  backendName: 'wasm',
  kernelFunc: forwardKeepingInput,
};
export const batchNormBackwardFromInputConfig: KernelConfig = {
  kernelName: BATCH_NORM_BACKWARD_FROM_INPUT,
  backendName: 'wasm',
  kernelFunc: backwardFromInput,
};
