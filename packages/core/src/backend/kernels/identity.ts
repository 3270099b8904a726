import * as tf from '@tensorflow/tfjs-core';
import type { CastAttrs, CastInputs, IdentityInputs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { asWasmBackend, heapFloat32, heapIndex, heapInt32, heapOffset, runWasmKernel } from './wasm-internals';

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

/*
 * Cast to the dtype a tensor already has, sharing its data as Identity does (the cpu backend does the same).
 * tfjs-core's relu gradient is mul(dy, cast(step(x), 'float32')) and step already returns float32, so the stock
 * kernel copied every relu input once per backward pass: 41 ms of a simclr-cnn28 step (three layers of 512 images).
 * Casts to bool compare with zero (the stock kernel wrapped numbers into bytes); other casts take the stock kernel.
 */
const cast: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = asWasmBackend(backend);
  const { x } = inputs as unknown as CastInputs & { x: TensorInfo };
  const { dtype } = attrs as unknown as CastAttrs;
  if (dtype === 'bool' && x.dtype !== 'bool' && x.dtype !== 'string') {
    // The stock kernel copies the numbers into bytes (−2 became 254): a bool is x ≠ 0, as on the cpu backend.
    const out = wasm.makeOutput(x.shape, 'bool');
    const size = tf.util.sizeFromShape(x.shape);
    const values = x.dtype === 'int32' ? heapInt32(wasm) : heapFloat32(wasm);
    const from = heapIndex(wasm, x);
    const flags = wasm.wasm.HEAPU8;
    const to = heapOffset(wasm, out);
    for (let i = 0; i < size; i++) flags[to + i] = values[from + i] !== 0 ? 1 : 0;
    return out;
  }
  if (x.dtype !== dtype || dtype === 'string') return runWasmKernel(wasm, tf.Cast, { x }, attrs ?? {});
  wasm.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype };
};

export const castConfig: KernelConfig = {
  kernelName: tf.Cast,
  backendName: 'wasm',
  kernelFunc: cast,
};
