/**
 * Transpose for the wasm backend.
 *
 * tfjs-backend-wasm's Transpose handles ranks 2..4 with fixed loops and falls back to a per-element
 * index computation above that (~18 M elements/s for rank 5 here, versus ~500 M/s for a copy), and its
 * rank-2 loop is not cache-blocked. Attention reshapes ([b, t, 3, heads, d] -> [3, b, heads, t, d]) and
 * the batch-as-channel transposes of the conv backprops hit exactly those cases. We first simplify the
 * permutation (drop size-1 axes, merge axes that stay adjacent), which turns most transposes into rank
 * 2 or 3, then move data with cache-blocked copies directly in the wasm heap.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo, TransposeAttrs, TransposeInputs } from '@tensorflow/tfjs-core';

import { simdKernels } from './simd/simd-kernels';
import { asWasmBackend, heapIndex, heapInt32, heapOffset, runWasmKernel, withShape, type WasmBackend } from './wasm-internals';

/** Side of the square tiles the general case copies; 32x32 int32 = 4 KiB per side fits L1 easily. */
const TILE = 32;

export interface SimplifiedPermutation {
  shape: number[];
  perm: number[];
}

/**
 * Equivalent smaller problem: axes of size 1 are dropped, and input axes i, i+1 that also appear next
 * to each other (in that order) in the output are merged into one axis. The element order of input and
 * output is unchanged, so data can be moved with the simplified problem.
 */
export function simplifyPermutation(shape: readonly number[], perm: readonly number[]): SimplifiedPermutation {
  // Renumber the axes of size > 1 as 0..k-1.
  const newIndex = new Array<number>(shape.length).fill(-1);
  const keptShape: number[] = [];
  shape.forEach((size, axis) => {
    if (size !== 1) {
      newIndex[axis] = keptShape.length;
      keptShape.push(size);
    }
  });
  const keptPerm = perm.filter((axis) => shape[axis] !== 1).map((axis) => newIndex[axis]);
  // Runs of consecutive input axes in output order become one merged axis.
  const groups: number[][] = [];
  for (const axis of keptPerm) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last[last.length - 1] === axis - 1) last.push(axis);
    else groups.push([axis]);
  }
  const groupsInInputOrder = [...groups].sort((a, b) => a[0] - b[0]);
  const mergedShape = groupsInInputOrder.map((group) => group.reduce((size, axis) => size * keptShape[axis], 1));
  const mergedPerm = groups.map((group) => groupsInInputOrder.indexOf(group));
  return { shape: mergedShape, perm: mergedPerm };
}

function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= shape[axis];
  }
  return strides;
}

/**
 * Moves `shape`-shaped data from `heap[source...]` to `heap[target...]` permuted by `perm` (output axis
 * i is input axis perm[i]). Works on a 32-bit view, so float32 and int32 are copied bit-exactly.
 */
export function transposeInHeap(heap: Int32Array, source: number, target: number, shape: number[], perm: number[]): void {
  const rank = shape.length;
  const size = shape.reduce((a, b) => a * b, 1);
  if (rank <= 1 || perm.every((axis, i) => axis === i)) {
    heap.copyWithin(target, source, source + size);
    return;
  }
  const inStrides = stridesOf(shape);
  const outShape = perm.map((axis) => shape[axis]);
  const outStrides = stridesOf(outShape);
  if (perm[rank - 1] === rank - 1) {
    copyRows(
      heap,
      source,
      target,
      outShape,
      perm.map((axis) => inStrides[axis]),
      shape[rank - 1],
    );
    return;
  }
  // Tile over the output's last axis (strided in the input) and the output axis that is the input's
  // last axis (contiguous in the input), so both reads and writes stay within cached lines.
  const contiguousOutAxis = perm.indexOf(rank - 1);
  const lastOutAxis = rank - 1;
  const outerAxes: number[] = [];
  for (let axis = 0; axis < rank; axis++) if (axis !== contiguousOutAxis && axis !== lastOutAxis) outerAxes.push(axis);
  const outerSizes = outerAxes.map((axis) => outShape[axis]);
  const outerInStrides = outerAxes.map((axis) => inStrides[perm[axis]]);
  const outerOutStrides = outerAxes.map((axis) => outStrides[axis]);
  const rows = outShape[contiguousOutAxis];
  const columns = outShape[lastOutAxis];
  const rowOutStride = outStrides[contiguousOutAxis];
  const columnInStride = inStrides[perm[lastOutAxis]];
  const outerCount = outerSizes.reduce((a, b) => a * b, 1);
  const counter = new Array<number>(outerAxes.length).fill(0);
  let inBase = source;
  let outBase = target;
  for (let outer = 0; outer < outerCount; outer++) {
    for (let row0 = 0; row0 < rows; row0 += TILE) {
      const rowEnd = Math.min(row0 + TILE, rows);
      for (let column0 = 0; column0 < columns; column0 += TILE) {
        const columnEnd = Math.min(column0 + TILE, columns);
        // Writes run along the output's last axis; the strided reads of the tile stay in L1.
        for (let row = row0; row < rowEnd; row++) {
          const outRow = outBase + row * rowOutStride;
          const inRow = inBase + row;
          for (let column = column0; column < columnEnd; column++) heap[outRow + column] = heap[inRow + column * columnInStride];
        }
      }
    }
    // Odometer over the remaining output axes, updating both bases incrementally.
    for (let k = outerAxes.length - 1; k >= 0; k--) {
      counter[k]++;
      inBase += outerInStrides[k];
      outBase += outerOutStrides[k];
      if (counter[k] < outerSizes[k]) break;
      inBase -= outerInStrides[k] * outerSizes[k];
      outBase -= outerOutStrides[k] * outerSizes[k];
      counter[k] = 0;
    }
  }
}

/** The input's last axis stays last: copy whole rows of `rowLength` elements in output order. */
function copyRows(
  heap: Int32Array,
  source: number,
  target: number,
  outShape: number[],
  inStridesByOutAxis: number[],
  rowLength: number,
): void {
  const outerRank = outShape.length - 1;
  const rowCount = outShape.slice(0, outerRank).reduce((a, b) => a * b, 1);
  const counter = new Array<number>(outerRank).fill(0);
  let inBase = source;
  let outBase = target;
  const useCopyWithin = rowLength >= 16;
  for (let row = 0; row < rowCount; row++) {
    if (useCopyWithin) heap.copyWithin(outBase, inBase, inBase + rowLength);
    else for (let i = 0; i < rowLength; i++) heap[outBase + i] = heap[inBase + i];
    outBase += rowLength;
    for (let k = outerRank - 1; k >= 0; k--) {
      counter[k]++;
      inBase += inStridesByOutAxis[k];
      if (counter[k] < outShape[k]) break;
      inBase -= inStridesByOutAxis[k] * outShape[k];
      counter[k] = 0;
    }
  }
}

/**
 * Measured here (M elements/s, noisy shared machine): the backend's C++ loops do well up to rank 4
 * (300-1400) but have no cache blocking, so one large matrix loses ([393216, 32]: 100 ms vs 23 ms for
 * the tiled JS, which writes along output rows), and rank >= 5 falls to a per-element index computation
 * (~6-19 vs ~200-500 tiled JS). After simplification we keep the backend for rank <= 4 unless it is
 * one large matrix.
 */
export type TransposeRouting = 'auto' | 'backend' | 'js';
let transposeRouting: TransposeRouting = 'auto';

/** For benchmarks and tests: force one implementation ('auto' also uses kernels.c for matrices and batches of them). */
export function setTransposeRouting(routing: TransposeRouting): void {
  transposeRouting = routing;
}

function prefersBackendTranspose({ shape, perm }: SimplifiedPermutation): boolean {
  if (transposeRouting !== 'auto') return transposeRouting === 'backend';
  if (shape.length <= 1 || shape.length >= 5) return false;
  const leadingIdentity = perm[0] === 0 ? 1 : 0;
  const innerSize = shape.slice(leadingIdentity).reduce((a, b) => a * b, 1);
  return !(shape.length - leadingIdentity === 2 && innerSize > LARGE_MATRIX_ELEMENTS);
}

/** 256K float32 = 1 MiB per matrix: beyond this the unblocked C++ 2-D loop thrashes the cache. */
const LARGE_MATRIX_ELEMENTS = 1 << 18;

/** Transposes a float32/int32 tensor on the wasm backend; the caller owns the result. */
export function transposeWasm(backend: WasmBackend, x: TensorInfo, perm: number[]): TensorInfo {
  const outShape = perm.map((axis) => x.shape[axis]);
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    return runWasmKernel(backend, tf.Transpose, { x }, { perm });
  }
  const simplified = simplifyPermutation(x.shape, perm);
  const kernels = transposeRouting === 'auto' ? simdKernels(backend) : undefined;
  const lastTwo = simplified.shape.length - 2;
  if (
    kernels !== undefined &&
    lastTwo >= 0 &&
    lastTwo <= 1 &&
    simplified.perm[lastTwo] === lastTwo + 1 &&
    simplified.perm[lastTwo + 1] === lastTwo
  ) {
    // A matrix or a batch of matrices (perm [1, 0] or [0, 2, 1]): kernels.c's register-blocked copy.
    const [rows, columns] = simplified.shape.slice(lastTwo);
    const out = backend.makeOutput(outShape, x.dtype);
    kernels.transpose_last_two(heapOffset(backend, x), heapOffset(backend, out), lastTwo === 1 ? simplified.shape[0] : 1, rows, columns);
    return out;
  }
  if (prefersBackendTranspose(simplified)) {
    const out = runWasmKernel(backend, tf.Transpose, { x: withShape(x, simplified.shape) }, { perm: simplified.perm });
    return withShape(out, outShape);
  }
  const out = backend.makeOutput(outShape, x.dtype);
  // Allocation above may have grown the heap, so the view is taken after it.
  transposeInHeap(heapInt32(backend), heapIndex(backend, x), heapIndex(backend, out), simplified.shape, simplified.perm);
  return out;
}

function transposeKernel(args: { inputs: TransposeInputs; backend: unknown; attrs: TransposeAttrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  return transposeWasm(backend, args.inputs.x as TensorInfo, args.attrs.perm);
}

export const transposeConfig: KernelConfig = {
  kernelName: tf.Transpose,
  backendName: 'wasm',
  kernelFunc: transposeKernel as unknown as KernelFunc,
};
