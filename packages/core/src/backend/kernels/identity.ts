import * as tf from '@tensorflow/tfjs-core';
import type { IdentityInputs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { asWasmBackend, runWasmKernel } from './wasm-internals';

/*
 * Identity that shares the input's data instead of copying it.
 *
 * tfjs-core clones a tensor through the Identity kernel every time it saves one for the backward pass
 * (each conv, relu, multiply and custom gradient saves its inputs), and tfjs-backend-wasm 4.22 answers
 * with a full copy, where the cpu and webgl backends only count a reference. In a ResNet-18 step those
 * copies were a third of all bytes allocated. Tensors are immutable, so a second reference is enough:
 * the backend frees the data when the last one is disposed, as it already does for Reshape.
 */
const identity: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = asWasmBackend(backend);
  const { x } = inputs as unknown as IdentityInputs & { x: TensorInfo };
  if (x.dtype === 'string') return runWasmKernel(wasm, tf.Identity, { x }, attrs ?? {});
  wasm.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
};

export const identityConfig: KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: identity,
};
