/**
 * The small part of tfjs-backend-wasm's internals that the training kernels build on.
 *
 * The wasm backend keeps every tensor in the WebAssembly heap and identifies it to C++ by an integer
 * id; its C++ kernels (XNNPACK underneath) are plain exported functions that take ids and shapes. We
 * call those functions directly so we can pass explicit paddings, shapes and zero-copy "views" into a
 * tensor's memory, which the JS kernel wrappers of tfjs-backend-wasm do not allow.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DataId, DataType, KernelBackend, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';

import { SslError } from '../../errors';

interface WasmTensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: DataType;
  refCount: number;
}

type CwrapArgType = 'number' | 'array';

interface WasmModule {
  HEAPU8: Uint8Array;
  cwrap(name: string, returnType: null, argTypes: CwrapArgType[]): (...args: Array<number | Uint8Array | boolean>) => void;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}

/** The fields of tfjs-backend-wasm's `BackendWasm` the kernels use (its own type drags in emscripten's). */
export interface WasmBackend extends KernelBackend {
  wasm: WasmModule;
  dataIdMap: {
    get(dataId: DataId): WasmTensorData;
    delete(dataId: DataId): boolean;
    set(dataId: DataId, value: WasmTensorData): void;
  };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number): TensorInfo;
  disposeData(dataId: DataId, force?: boolean): boolean;
  incRef(dataId: DataId): void;
}

export function asWasmBackend(backend: unknown): WasmBackend {
  const candidate = backend as Partial<WasmBackend> | null;
  if (candidate === null || typeof candidate !== 'object' || candidate.wasm === undefined || candidate.dataIdMap === undefined) {
    throw new SslError('backend', 'The @ssl wasm training kernels were called with a backend that is not tfjs-backend-wasm.');
  }
  return candidate as WasmBackend;
}

/** Integer id that the C++ side knows the tensor by. */
export function wasmTensorId(backend: WasmBackend, tensor: TensorInfo): number {
  return backend.dataIdMap.get(tensor.dataId).id;
}

/** A float32 view of the whole wasm heap. Re-take it after any allocation: growing the heap detaches old views. */
export function heapFloat32(backend: WasmBackend): Float32Array {
  const bytes = backend.wasm.HEAPU8;
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
}

export function heapInt32(backend: WasmBackend): Int32Array {
  const bytes = backend.wasm.HEAPU8;
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
}

/** Below this many words a plain loop beats one `copyWithin` call. */
const SHORT_RUN = 16;

/** Copies `length` words from `from` to `target` in a 4-byte heap view (short runs by a loop). */
export function copyWords(heap: Int32Array, target: number, from: number, length: number): void {
  if (length < SHORT_RUN) {
    for (let e = 0; e < length; e++) heap[target + e] = heap[from + e];
  } else {
    heap.copyWithin(target, from, from + length);
  }
}

/** Index of the tensor's first element in a 4-byte heap view (float32 and int32 tensors only). */
export function heapIndex(backend: WasmBackend, tensor: TensorInfo): number {
  return backend.dataIdMap.get(tensor.dataId).memoryOffset >>> 2;
}

/** Byte offset of the tensor's first element in the wasm heap: the pointer C code takes. */
export function heapOffset(backend: WasmBackend, tensor: TensorInfo): number {
  return backend.dataIdMap.get(tensor.dataId).memoryOffset;
}

/**
 * A tensor id that aliases `length(shape)` elements of `base`'s memory starting at `elementOffset`, so
 * C++ kernels can read or write a slice in place. Must be released with `releaseView` (never
 * `disposeData`, which would free memory the view does not own) before `base` is disposed.
 */
export function makeView(backend: WasmBackend, base: TensorInfo, elementOffset: number, shape: number[]): TensorInfo {
  const baseData = backend.dataIdMap.get(base.dataId);
  const id = backend.dataIdNextNumber++;
  const dataId = { id };
  const memoryOffset = baseData.memoryOffset + elementOffset * 4;
  backend.dataIdMap.set(dataId, { id, memoryOffset, shape, dtype: base.dtype, refCount: 1 });
  backend.wasm.tfjs.registerTensor(id, tf.util.sizeFromShape(shape), memoryOffset);
  return { dataId, shape, dtype: base.dtype };
}

/** Forgets a view made by `makeView`; C++ drops any XNNPACK operator it cached for the id. */
export function releaseView(backend: WasmBackend, view: TensorInfo): void {
  const data = backend.dataIdMap.get(view.dataId);
  backend.wasm.tfjs.disposeData(data.id);
  backend.dataIdMap.delete(view.dataId);
}

/** Same data, another shape; costs nothing, and the caller still disposes only the original. */
export function withShape(tensor: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: tensor.dataId, shape, dtype: tensor.dtype };
}

export function disposeIntermediates(backend: WasmBackend, ...tensors: TensorInfo[]): void {
  for (const tensor of tensors) backend.disposeData(tensor.dataId);
}

/** Kernels of the wasm backend that `registerWasmTrainingKernels` replaced, kept so ours can still call them. */
const replacedWasmKernels = new Map<string, tf.KernelConfig>();

export function rememberReplacedWasmKernel(config: tf.KernelConfig): void {
  replacedWasmKernels.set(config.kernelName, config);
}

export function replacedWasmKernel(kernelName: string): tf.KernelConfig | undefined {
  return replacedWasmKernels.get(kernelName);
}

/** Runs a wasm kernel by name: the backend's own implementation if we replaced it, else the registered one. */
export function runWasmKernel(backend: WasmBackend, kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
  const config = replacedWasmKernels.get(kernelName) ?? tf.getKernel(kernelName, 'wasm');
  if (config === undefined) {
    throw new SslError('backend', `The wasm backend has no '${kernelName}' kernel; import '@tensorflow/tfjs-backend-wasm' first.`);
  }
  const result = config.kernelFunc({ inputs, attrs, backend });
  if (Array.isArray(result)) {
    throw new SslError('backend', `Kernel '${kernelName}' returned several tensors where one was expected.`);
  }
  return result;
}

type WasmFunction = (...args: Array<number | Uint8Array | boolean>) => void;

const wrappedFunctions = new WeakMap<WasmModule, Map<string, WasmFunction>>();

/** A C++ function exported by the wasm binary, wrapped once per module. */
export function wasmFunction(backend: WasmBackend, name: string, argTypes: CwrapArgType[]): WasmFunction {
  let byName = wrappedFunctions.get(backend.wasm);
  if (byName === undefined) {
    byName = new Map();
    wrappedFunctions.set(backend.wasm, byName);
  }
  let wrapped = byName.get(name);
  if (wrapped === undefined) {
    wrapped = backend.wasm.cwrap(name, null, argTypes);
    byName.set(name, wrapped);
  }
  return wrapped;
}

export function int32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(values).buffer);
}
