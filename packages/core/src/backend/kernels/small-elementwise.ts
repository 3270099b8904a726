import * as tf from '@tensorflow/tfjs-core';
import type { BinaryInputs, ClipByValueAttrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { expandedTo } from './broadcast-binary';
import { asWasmBackend, disposeIntermediates, heapFloat32, heapOffset, runWasmKernel, type WasmBackend } from './wasm-internals';

/*
 * Element-wise ops on small float32 tensors, computed on the calling thread instead of through XNNPACK.
 * tfjs-backend-wasm hands every XNNPACK op to its thread pool whatever its size, and after each one the pool's
 * worker spin-waits before it parks (pthreadpool spins up to 10^6 iterations), while the caller spins in turn
 * whenever the worker is descheduled — on a loaded 2-core machine, ~1 ms of CPU per op against microseconds
 * of work. A FixMatch step at B 16 (issue 32's benchmark shape) runs ~100 such ops: RandAugment's per-image
 * factors ([k, 1, 1, 1] against [k, 28, 28, 1]), the flips' selections, clipping and rounding of the colour
 * ops, and its losses' [48, 10] - [48, 1]. Subtraction, division, min/max and rounding of float32 values are
 * exact, so a loop here gives bit for bit what XNNPACK gives (a float32 op computed in float64 and rounded
 * once is the float32 op: 53 ≥ 2·24 + 2). Above SMALL_ELEMENTS, and for other dtypes, the stock kernels run.
 */

/** Outputs below this many elements take the loops here (the element-wise kernels' two-thread threshold). */
export const SMALL_ELEMENTS = 1 << 17;

function isSmallFloat32(shape: number[], ...inputs: TensorInfo[]): boolean {
  return tf.util.sizeFromShape(shape) < SMALL_ELEMENTS && inputs.every((t) => t.dtype === 'float32');
}

type BinaryLoop = (a: Float32Array, b: Float32Array, y: Float32Array, count: number) => void;

function subtractLoop(a: Float32Array, b: Float32Array, y: Float32Array, count: number): void {
  for (let i = 0; i < count; i++) y[i] = a[i] - b[i];
}

function divideLoop(a: Float32Array, b: Float32Array, y: Float32Array, count: number): void {
  for (let i = 0; i < count; i++) y[i] = a[i] / b[i];
}

/** a op b with broadcasting: a broadcast operand is first expanded by block copies, then one loop runs. */
function smallBinary(kernelName: string, loop: BinaryLoop): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = asWasmBackend(backend);
    const { a, b } = inputs as unknown as BinaryInputs & { a: TensorInfo; b: TensorInfo };
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    if (!isSmallFloat32(outShape, a, b)) return runWasmKernel(wasm, kernelName, { a, b }, attrs);
    const left = expandedTo(wasm, a, outShape);
    const right = expandedTo(wasm, b, outShape);
    const y = wasm.makeOutput(outShape, 'float32');
    const count = tf.util.sizeFromShape(outShape);
    const heap = heapFloat32(wasm);
    const view = (t: TensorInfo) => heap.subarray(heapOffset(wasm, t) >>> 2, (heapOffset(wasm, t) >>> 2) + count);
    loop(view(left), view(right), view(y), count);
    disposeIntermediates(wasm, ...[left, right].filter((t) => t !== a && t !== b));
    return y;
  };
}

type UnaryLoop = (x: Float32Array, y: Float32Array, count: number) => boolean;

/** Runs `loop` into a new output; a loop that returns false (an input it leaves to the stock kernel) falls back. */
function smallUnary(wasm: WasmBackend, x: TensorInfo, loop: UnaryLoop, stock: () => TensorInfo): TensorInfo {
  if (!isSmallFloat32(x.shape, x)) return stock();
  const y = wasm.makeOutput(x.shape, 'float32');
  const count = tf.util.sizeFromShape(x.shape);
  const heap = heapFloat32(wasm);
  const xAt = heapOffset(wasm, x) >>> 2;
  const yAt = heapOffset(wasm, y) >>> 2;
  if (loop(heap.subarray(xAt, xAt + count), heap.subarray(yAt, yAt + count), count)) return y;
  disposeIntermediates(wasm, y);
  return stock();
}

/** Round half to even (tf.round, XNNPACK's rounding-to-nearest-even): Math.round rounds halves up. */
function roundHalfEven(value: number): number {
  const rounded = Math.round(value);
  return rounded - value === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

const round: KernelFunc = ({ inputs, backend }) => {
  const wasm = asWasmBackend(backend);
  const { x } = inputs as unknown as { x: TensorInfo };
  return smallUnary(
    wasm,
    x,
    (source, target, count) => {
      for (let i = 0; i < count; i++) target[i] = roundHalfEven(source[i]);
      return true;
    },
    () => runWasmKernel(wasm, tf.Round, { x }),
  );
};

const floor: KernelFunc = ({ inputs, backend }) => {
  const wasm = asWasmBackend(backend);
  const { x } = inputs as unknown as { x: TensorInfo };
  return smallUnary(
    wasm,
    x,
    (source, target, count) => {
      for (let i = 0; i < count; i++) target[i] = Math.floor(source[i]);
      return true;
    },
    () => runWasmKernel(wasm, tf.Floor, { x }),
  );
};

const clipByValue: KernelFunc = ({ inputs, attrs, backend }) => {
  const wasm = asWasmBackend(backend);
  const { x } = inputs as unknown as { x: TensorInfo };
  const { clipValueMin, clipValueMax } = attrs as unknown as ClipByValueAttrs;
  const low = Math.fround(clipValueMin);
  const high = Math.fround(clipValueMax);
  return smallUnary(
    wasm,
    x,
    (source, target, count) => {
      for (let i = 0; i < count; i++) {
        const value = source[i];
        // NaN is left to the stock kernel, whose clamp decides what it becomes.
        if (value !== value) return false;
        target[i] = value < low ? low : value > high ? high : value;
      }
      return true;
    },
    () => runWasmKernel(wasm, tf.ClipByValue, { x }, attrs),
  );
};

export const smallElementwiseConfigs: KernelConfig[] = [
  { kernelName: tf.Sub, backendName: 'wasm', kernelFunc: smallBinary(tf.Sub, subtractLoop) },
  { kernelName: tf.RealDiv, backendName: 'wasm', kernelFunc: smallBinary(tf.RealDiv, divideLoop) },
  { kernelName: tf.Round, backendName: 'wasm', kernelFunc: round },
  { kernelName: tf.Floor, backendName: 'wasm', kernelFunc: floor },
  { kernelName: tf.ClipByValue, backendName: 'wasm', kernelFunc: clipByValue },
];
