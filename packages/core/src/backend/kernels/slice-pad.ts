import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, PadV2Attrs, SliceAttrs, SplitVAttrs, TensorInfo, UnpackAttrs } from '@tensorflow/tfjs-core';

import { asWasmBackend, heapIndex, heapInt32, runWasmKernel } from './wasm-internals';

/**
 * tfjs-backend-wasm 4.22's Slice and PadV2 move data element by element (a 3 MB slice takes ~30 ms, a
 * pad ~110 ms). Transformers slice and pad constantly (q/k/v splits, their gradients), so these kernels
 * copy whole contiguous runs with `copyWithin` instead: a slice of NHWC data is a set of runs of
 * `size[d]·∏shape[d+1..]` elements, one per index of the axes before d, where d is the last axis the
 * slice does not cover fully.
 */

interface Runs {
  /** Element offset of each run in the source, in order. */
  starts: number[];
  /** Elements per run. */
  length: number;
}

/** Runs of a box `size` at `begin` inside a row-major array of `shape`. */
function boxRuns(shape: readonly number[], begin: readonly number[], size: readonly number[]): Runs {
  const rank = shape.length;
  let d = rank - 1;
  // Walk up while the trailing axes are covered completely: they merge into one run.
  while (d > 0 && begin[d] === 0 && size[d] === shape[d]) d--;
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  const length = size[d] * strides[d];
  const starts: number[] = [];
  const index = new Array<number>(d).fill(0);
  const outer = size.slice(0, d).reduce((a, b) => a * b, 1);
  for (let run = 0; run < outer; run++) {
    let offset = begin[d] * strides[d];
    for (let i = 0; i < d; i++) offset += (begin[i] + index[i]) * strides[i];
    starts.push(offset);
    for (let i = d - 1; i >= 0; i--) {
      if (++index[i] < size[i]) break;
      index[i] = 0;
    }
  }
  return { starts, length };
}

const isWordType = (dtype: string) => dtype === 'float32' || dtype === 'int32';

const slice: KernelFunc = ({ inputs, attrs, backend }) => {
  const wasm = asWasmBackend(backend);
  const { x } = inputs as unknown as { x: TensorInfo };
  const { begin, size } = attrs as unknown as SliceAttrs;
  const [begin_, size_] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
  if (!isWordType(x.dtype) || x.shape.length === 0) return runWasmKernel(wasm, 'Slice', { x }, { begin, size });
  const out: TensorInfo = wasm.makeOutput(size_, x.dtype);
  if (tf.util.sizeFromShape(size_) === 0) return out;
  const { starts, length } = boxRuns(x.shape, begin_, size_);
  const heap = heapInt32(wasm); // after makeOutput: allocation may move the heap
  const source = heapIndex(wasm, x);
  let target = heapIndex(wasm, out);
  for (const start of starts) {
    heap.copyWithin(target, source + start, source + start + length);
    target += length;
  }
  return out;
};

const padV2: KernelFunc = ({ inputs, attrs, backend }) => {
  const wasm = asWasmBackend(backend);
  const { x } = inputs as unknown as { x: TensorInfo };
  const { paddings, constantValue } = attrs as unknown as PadV2Attrs;
  if (!isWordType(x.dtype) || x.shape.length === 0) return runWasmKernel(wasm, 'PadV2', { x }, { paddings, constantValue });
  const outShape = x.shape.map((dim, i) => paddings[i][0] + dim + paddings[i][1]);
  const out: TensorInfo = wasm.makeOutput(outShape, x.dtype);
  const total = tf.util.sizeFromShape(outShape);
  if (total === 0) return out;
  const heap = heapInt32(wasm);
  const target = heapIndex(wasm, out);
  // Fill with the constant's bit pattern, then copy the input in as runs of the output box.
  const fill = x.dtype === 'float32' ? new Int32Array(new Float32Array([constantValue]).buffer)[0] : constantValue | 0;
  heap.fill(fill, target, target + total);
  if (tf.util.sizeFromShape(x.shape) === 0) return out;
  const { starts, length } = boxRuns(
    outShape,
    paddings.map((p) => p[0]),
    x.shape,
  );
  let source = heapIndex(wasm, x);
  for (const start of starts) {
    heap.copyWithin(target + start, source, source + length);
    source += length;
  }
  return out;
};

/*
 * SplitV and Unpack as slices through the kernel above. tfjs-backend-wasm builds both on its own
 * element-wise Slice, which made splitting a ViT block's q/k/v ([500, 50, 384]) ~115 ms.
 */

/** Consecutive slices of x along `axis`, `sizes[i]` wide each. */
function slicesAlong(x: TensorInfo, axis: number, sizes: readonly number[], backend: Parameters<KernelFunc>[0]['backend']): TensorInfo[] {
  const begin = new Array<number>(x.shape.length).fill(0);
  const size = x.shape.slice();
  return sizes.map((part) => {
    size[axis] = part;
    const out = slice({ inputs: { x }, attrs: { begin: [...begin], size: [...size] }, backend }) as TensorInfo;
    begin[axis] += part;
    return out;
  });
}

const splitV: KernelFunc = ({ inputs, attrs, backend }) => {
  const { x } = inputs as unknown as { x: TensorInfo };
  const { numOrSizeSplits, axis } = attrs as unknown as SplitVAttrs;
  const $axis = tf.util.parseAxisParam(axis, x.shape)[0];
  return slicesAlong(x, $axis, tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, $axis), backend);
};

const unpack: KernelFunc = ({ inputs, attrs, backend }) => {
  const { value } = inputs as unknown as { value: TensorInfo };
  const $axis = tf.util.parseAxisParam((attrs as unknown as UnpackAttrs).axis, value.shape)[0];
  const outShape = value.shape.filter((_, i) => i !== $axis);
  const ones = new Array<number>(value.shape[$axis]).fill(1);
  return slicesAlong(value, $axis, ones, backend).map(({ dataId, dtype }) => ({ dataId, dtype, shape: outShape }));
};

export const sliceConfig: KernelConfig = { kernelName: 'Slice', backendName: 'wasm', kernelFunc: slice };
export const padV2Config: KernelConfig = { kernelName: 'PadV2', backendName: 'wasm', kernelFunc: padV2 };
export const splitVConfig: KernelConfig = { kernelName: 'SplitV', backendName: 'wasm', kernelFunc: splitV };
export const unpackConfig: KernelConfig = { kernelName: 'Unpack', backendName: 'wasm', kernelFunc: unpack };
