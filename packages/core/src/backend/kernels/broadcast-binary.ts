import * as tf from '@tensorflow/tfjs-core';
import type { BinaryInputs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { asWasmBackend, disposeIntermediates, heapIndex, heapInt32, runWasmKernel, type WasmBackend } from './wasm-internals';

/*
 * Binary ops that tfjs-backend-wasm 4.22 runs in its own C++ rather than XNNPACK (comparisons, maximum,
 * minimum) take a generic broadcasting path that computes every element's input indices: 70 ms for a
 * [512, 512] vs [512, 1] comparison, against 3 ms with equal shapes. That shape is in every softmax
 * cross-entropy's backward pass (the gradient of max compares logits with their row maxima) and in
 * clipping. Expanding the broadcast operand with block copies and calling the same kernel on equal
 * shapes gives identical results at the equal-shape speed.
 */
const KERNELS = ['Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Maximum', 'Minimum'] as const;

/** Writes `source` (shape `sourceShape`, 4-byte elements) broadcast to `outShape` at `target`. */
function broadcastInto(heap: Int32Array, source: number, sourceShape: number[], target: number, outShape: number[]): void {
  const rank = outShape.length;
  const shape = [...new Array<number>(rank - sourceShape.length).fill(1), ...sourceShape];
  const outInner = new Array<number>(rank).fill(1);
  const sourceInner = new Array<number>(rank).fill(1);
  for (let axis = rank - 2; axis >= 0; axis--) {
    outInner[axis] = outInner[axis + 1] * outShape[axis + 1];
    sourceInner[axis] = sourceInner[axis + 1] * shape[axis + 1];
  }
  const fill = (axis: number, from: number, to: number): void => {
    const size = outShape[axis];
    if (axis === rank - 1) {
      if (shape[axis] === 1) heap.fill(heap[from], to, to + size);
      else heap.copyWithin(to, from, from + size);
      return;
    }
    if (shape[axis] === 1) {
      // Build the first slice, then copy it: each copy is one contiguous block.
      fill(axis + 1, from, to);
      for (let i = 1; i < size; i++) heap.copyWithin(to + i * outInner[axis], to, to + outInner[axis]);
    } else {
      for (let i = 0; i < size; i++) fill(axis + 1, from + i * sourceInner[axis], to + i * outInner[axis]);
    }
  };
  if (rank === 0) heap[target] = heap[source];
  else fill(0, source, target);
}

function expanded(backend: WasmBackend, tensor: TensorInfo, outShape: number[]): TensorInfo {
  const out = backend.makeOutput(outShape, tensor.dtype);
  broadcastInto(heapInt32(backend), heapIndex(backend, tensor), tensor.shape, heapIndex(backend, out), outShape);
  return out;
}

/** `tensor` itself when it already has `outShape`, else a new tensor of 4-byte elements broadcast to it (the caller disposes it). */
export function expandedTo(backend: WasmBackend, tensor: TensorInfo, outShape: number[]): TensorInfo {
  return tf.util.arraysEqual(tensor.shape, outShape) ? tensor : expanded(backend, tensor, outShape);
}

function broadcastByCopy(kernelName: string): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = asWasmBackend(backend);
    const { a, b } = inputs as unknown as BinaryInputs & { a: TensorInfo; b: TensorInfo };
    const fourBytes = (t: TensorInfo): boolean => t.dtype === 'float32' || t.dtype === 'int32';
    if (tf.util.arraysEqual(a.shape, b.shape) || !fourBytes(a) || !fourBytes(b)) return runWasmKernel(wasm, kernelName, { a, b }, attrs);
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const left = tf.util.arraysEqual(a.shape, outShape) ? a : expanded(wasm, a, outShape);
    const right = tf.util.arraysEqual(b.shape, outShape) ? b : expanded(wasm, b, outShape);
    const out = runWasmKernel(wasm, kernelName, { a: left, b: right }, attrs);
    disposeIntermediates(wasm, ...[left, right].filter((t) => t !== a && t !== b));
    return out;
  };
}

export const broadcastBinaryConfigs: KernelConfig[] = KERNELS.map((kernelName) => ({
  kernelName,
  backendName: 'wasm',
  kernelFunc: broadcastByCopy(kernelName),
}));
