import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';

import { SslError } from '../../errors';
import { simdKernels, type SimdKernels } from './simd/simd-kernels';
import { asWasmBackend, type WasmBackend } from './wasm-internals';

/*
 * Shared by @ssl's own kernel names (fused training batch norm, GELU): the op-level code asks whether the
 * kernel runs here before choosing it over the composed ops, and the kernel checks its inputs.
 */

/** Whether @ssl's kernel `kernelName` runs on the active backend: wasm, registered, with the SIMD module. */
export function simdKernelRunsHere(kernelName: string): boolean {
  if (tf.getBackend() !== 'wasm' || tf.getKernel(kernelName, 'wasm') === undefined) return false;
  return simdKernels(asWasmBackend(tf.backend())) !== undefined;
}

/** The backend and its SIMD kernels for `kernel`, once every listed input is float32. */
export function requireSimdKernels(
  backend: unknown,
  kernel: string,
  float32Inputs: Record<string, TensorInfo>,
): { wasm: WasmBackend; kernels: SimdKernels } {
  for (const [name, tensor] of Object.entries(float32Inputs)) {
    if (tensor.dtype !== 'float32') throw new SslError('dtype-mismatch', `${kernel}: '${name}' must be float32, got ${tensor.dtype}.`);
  }
  const wasm = asWasmBackend(backend);
  const kernels = simdKernels(wasm);
  if (kernels === undefined)
    throw new SslError('backend', `${kernel} needs the @ssl SIMD module, which is not available on this wasm backend.`);
  return { wasm, kernels };
}
