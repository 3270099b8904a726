import type { KernelConfig, KernelFunc, OneHotAttrs, OneHotInputs, TensorInfo } from '@tensorflow/tfjs-core';

import { asWasmBackend, disposeIntermediates, runWasmKernel } from './wasm-internals';

/**
 * tfjs-backend-wasm 4.22's OneHot writes int32 bit patterns into a float32 output when asked for
 * dtype float32 (1 becomes 1.4e-45), which silently zeroes every cross-entropy built on tf.oneHot.
 * Run the kernel in int32, where it is correct, and cast.
 */
const oneHot: KernelFunc = ({ inputs, attrs, backend }) => {
  const wasm = asWasmBackend(backend);
  const { indices } = inputs as unknown as OneHotInputs;
  const { depth, onValue, offValue, dtype } = attrs as unknown as OneHotAttrs;
  const integral = Number.isInteger(onValue) && Number.isInteger(offValue);
  if (dtype === 'int32' || !integral) {
    // Non-integral on/off values cannot round-trip through int32; the backend's float path is then used as is.
    return runWasmKernel(wasm, 'OneHot', { indices }, { depth, onValue, offValue, dtype });
  }
  const asInt = runWasmKernel(wasm, 'OneHot', { indices }, { depth, onValue, offValue, dtype: 'int32' });
  const result: TensorInfo = runWasmKernel(wasm, 'Cast', { x: asInt }, { dtype });
  disposeIntermediates(wasm, asInt);
  return result;
};

export const oneHotConfig: KernelConfig = { kernelName: 'OneHot', backendName: 'wasm', kernelFunc: oneHot };
