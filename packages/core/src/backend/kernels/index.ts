/**
 * Training kernels for the tfjs `wasm` backend.
 *
 * tfjs-backend-wasm 4.22 ships forward kernels only for several ops whose gradients training needs
 * (no Conv2DBackpropFilter, no depthwise backprops, no UnsortedSegmentSum), and some kernels it does
 * ship are far slower than the forward conv/matmul they mirror (Conv2DBackpropInput, transposed
 * BatchMatMul, high-rank Transpose). `registerWasmTrainingKernels()` installs implementations that
 * are expressed through wasm's fast XNNPACK forward kernels, so they also speed up when those do
 * (threads, SIMD).
 */
import * as tf from '@tensorflow/tfjs-core';

import { SslError } from '../../errors';
import { wasmTrainingKernelConfigs } from './configs';
import { rememberReplacedWasmKernel } from './wasm-internals';

const WASM = 'wasm';

/**
 * Registers (or overrides) the training kernels on the `wasm` backend. Idempotent: calling it again
 * leaves the registry unchanged. Must run after `@tensorflow/tfjs-backend-wasm` has been imported
 * (importing it registers the backend's own kernels, which this replaces where needed). May run before
 * or after the backend is initialized.
 */
export function registerWasmTrainingKernels(): void {
  if (!tf.findBackendFactory(WASM)) {
    throw new SslError(
      'backend',
      "registerWasmTrainingKernels() needs the wasm backend: import '@tensorflow/tfjs-backend-wasm' before calling it.",
    );
  }
  for (const config of wasmTrainingKernelConfigs) {
    const existing = tf.getKernel(config.kernelName, WASM);
    if (existing !== undefined && existing.kernelFunc === config.kernelFunc) continue;
    let { setupFunc, disposeFunc } = config;
    if (existing !== undefined) {
      rememberReplacedWasmKernel(existing);
      tf.unregisterKernel(config.kernelName, WASM);
      // The replaced kernel is still called by ours, so it must still be set up (it binds its C++
      // function there) when the backend initializes after this registration.
      setupFunc = existing.setupFunc;
      disposeFunc = existing.disposeFunc;
    }
    tf.registerKernel({ ...config, backendName: WASM, setupFunc, disposeFunc });
  }
}

/** Names of the kernels `registerWasmTrainingKernels()` installs on the wasm backend, sorted. */
export function listWasmTrainingKernels(): string[] {
  return wasmTrainingKernelConfigs.map((config) => config.kernelName).sort();
}
