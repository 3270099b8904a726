import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { runOnTwoThreads, simdKernels } from './simd/simd-kernels';
import { asWasmBackend, heapOffset, runWasmKernel } from './wasm-internals';

/*
 * Erf on four lanes (kernels.c's erf_f32: the Abramowitz & Stegun formula tfjs's own Erf kernels use), split
 * with the helper thread. The stock wasm kernel is scalar, and the exact GELU (x·Φ(x), PyTorch's default, and
 * the ViT encoders') runs through it: it was 8 % of ViT feature extraction. Other dtypes, and a backend
 * without the SIMD module, take the stock kernel.
 */

/** Below this many elements the helper thread's hand-off costs more than half the pass. */
const TWO_THREADS_MIN_ELEMENTS = 1 << 15;

const erf: KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as unknown as { x: TensorInfo };
  const wasm = asWasmBackend(backend);
  const kernels = simdKernels(wasm);
  if (kernels === undefined || x.dtype !== 'float32') return runWasmKernel(wasm, tf.Erf, { x });
  const y = wasm.makeOutput(x.shape, 'float32');
  const count = tf.util.sizeFromShape(x.shape);
  const [xAt, yAt] = [heapOffset(wasm, x), heapOffset(wasm, y)];
  runOnTwoThreads(
    wasm,
    kernels,
    'erf_f32',
    (_, begin, end) => [xAt + 4 * begin, yAt + 4 * begin, end - begin],
    Math.floor(count / 8) * 4,
    count,
    count >= TWO_THREADS_MIN_ELEMENTS,
  );
  return y;
};

export const erfConfig: KernelConfig = { kernelName: tf.Erf, backendName: 'wasm', kernelFunc: erf };
