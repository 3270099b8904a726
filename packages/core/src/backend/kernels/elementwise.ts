import * as tf from '@tensorflow/tfjs-core';
import type { BinaryInputs, KernelConfig, KernelFunc, StepAttrs, TensorInfo } from '@tensorflow/tfjs-core';

import { runOnTwoThreads, simdKernels } from './simd/simd-kernels';
import { expandedTo } from './broadcast-binary';
import { SMALL_ELEMENTS } from './small-elementwise';
import { asWasmBackend, disposeIntermediates, heapOffset, runWasmKernel, type WasmBackend } from './wasm-internals';

/*
 * The element-wise passes around a CNN's convolutions on both threads: the bias add (a channel vector broadcast
 * over [N, H, W, C]), ReLU, and ReLU's gradient as tfjs-core writes it, mul(dy, cast(step(x))). tfjs-backend-wasm
 * runs each on the calling thread (Step as a scalar loop, a broadcast Add through XNNPACK's broadcasting path), and
 * at the SimCLR CNN's first layer ([512, 28, 28, 32]) each took 10–23 ms: together ~30 % of the kernel time outside
 * the convolutions. Float32 only, and only equal shapes or a bias along the last axis; everything else, and a
 * backend without the SIMD module, takes the stock kernel.
 */

/**
 * Below this many elements one thread does the pass: these passes are memory-bound (a few µs per 10⁴ elements), and
 * the hand-off to the helper thread costs tens of µs on an idle machine and milliseconds on a loaded one.
 */
const TWO_THREADS_MIN_ELEMENTS = 1 << 17;

type Call = (begin: number, end: number) => number[];

/** Runs `kernel` over elements [0, count), split at a multiple of 4 between this thread and the helper. */
function splitElements(backend: WasmBackend, kernel: 'relu_f32' | 'step_f32' | 'binary_f32', count: number, call: Call): void {
  const kernels = simdKernels(backend);
  if (kernels === undefined) throw new Error(`${kernel}: no SIMD kernels`);
  const split = Math.floor(count / 8) * 4;
  runOnTwoThreads(backend, kernels, kernel, (_, begin, end) => call(begin, end), split, count, count >= TWO_THREADS_MIN_ELEMENTS);
}

/** ReLU of a wasm tensor (also the epilogue of fused convolutions and products); the caller owns the result. */
export function reluWasm(wasm: WasmBackend, x: TensorInfo): TensorInfo {
  if (simdKernels(wasm) === undefined || x.dtype !== 'float32') return runWasmKernel(wasm, tf.Relu, { x });
  const y = wasm.makeOutput(x.shape, 'float32');
  const [xAt, yAt] = [heapOffset(wasm, x), heapOffset(wasm, y)];
  splitElements(wasm, 'relu_f32', tf.util.sizeFromShape(x.shape), (begin, end) => [xAt + 4 * begin, yAt + 4 * begin, end - begin]);
  return y;
}

const relu: KernelFunc = ({ inputs, backend }) => reluWasm(asWasmBackend(backend), (inputs as unknown as { x: TensorInfo }).x);

/** alpha as the bits of a float32 (the helper thread passes int32 words). */
function float32Bits(value: number): number {
  return new Int32Array(new Float32Array([value]).buffer)[0];
}

const step: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = asWasmBackend(backend);
  const { x } = inputs as unknown as { x: TensorInfo };
  const { alpha } = attrs as unknown as StepAttrs;
  if (simdKernels(wasm) === undefined || x.dtype !== 'float32') return runWasmKernel(wasm, tf.Step, { x }, { alpha });
  const y = wasm.makeOutput(x.shape, 'float32');
  const [xAt, yAt, alphaBits] = [heapOffset(wasm, x), heapOffset(wasm, y), float32Bits(alpha ?? 0)];
  splitElements(wasm, 'step_f32', tf.util.sizeFromShape(x.shape), (begin, end) => [
    xAt + 4 * begin,
    yAt + 4 * begin,
    end - begin,
    alphaBits,
  ]);
  return y;
};

/** The channel count when `bias` is a vector along the last axis of `x` ([C] or [1, …, 1, C]), else undefined. */
function biasChannels(x: TensorInfo, bias: TensorInfo): number | undefined {
  const channels = x.shape[x.shape.length - 1];
  if (x.shape.length < 2 || bias.shape.length > x.shape.length || bias.shape.length === 0) return undefined;
  if (bias.shape[bias.shape.length - 1] !== channels || tf.util.sizeFromShape(bias.shape) !== channels) return undefined;
  return channels;
}

/** a·b (op 0) or a + b (op 1) of wasm tensors; the caller owns the result. */
function binaryWasm(
  wasm: WasmBackend,
  kernelName: typeof tf.Multiply | typeof tf.Add,
  op: 0 | 1,
  a: TensorInfo,
  b: TensorInfo,
): TensorInfo {
  const kernels = simdKernels(wasm);
  if (kernels === undefined || a.dtype !== 'float32' || b.dtype !== 'float32') return runWasmKernel(wasm, kernelName, { a, b });
  if (tf.util.arraysEqual(a.shape, b.shape)) {
    const y = wasm.makeOutput(a.shape, 'float32');
    const [aAt, bAt, yAt] = [heapOffset(wasm, a), heapOffset(wasm, b), heapOffset(wasm, y)];
    splitElements(wasm, 'binary_f32', tf.util.sizeFromShape(a.shape), (begin, end) => [
      aAt + 4 * begin,
      bAt + 4 * begin,
      yAt + 4 * begin,
      end - begin,
      op,
    ]);
    return y;
  }
  // Add is commutative: the bias may be either operand.
  const [x, bias] = biasChannels(a, b) !== undefined ? [a, b] : [b, a];
  const channels = op === 1 ? biasChannels(x, bias) : undefined;
  if (channels === undefined) return smallBroadcast(wasm, kernelName, op, a, b);
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const y = wasm.makeOutput(x.shape, 'float32');
  const [xAt, biasAt, yAt] = [heapOffset(wasm, x), heapOffset(wasm, bias), heapOffset(wasm, y)];
  runOnTwoThreads(
    wasm,
    kernels,
    'add_bias_f32',
    (_, begin, end) => [xAt + 4 * begin * channels, biasAt, yAt + 4 * begin * channels, end - begin, channels],
    rows >> 1,
    rows,
    rows * channels >= TWO_THREADS_MIN_ELEMENTS,
  );
  return y;
}

/**
 * Another broadcast (a per-image factor [N, 1, 1, 1] against [N, H, W, C], logits [N, K] against their row
 * maxima [N, 1]): below SMALL_ELEMENTS the broadcast operand is expanded by block copies and the equal-shape
 * loop runs on this thread, since XNNPACK's broadcasting path costs its thread pool's spin-wait per call
 * (small-elementwise.ts); larger ones take the stock kernel.
 */
function smallBroadcast(
  wasm: WasmBackend,
  kernelName: typeof tf.Multiply | typeof tf.Add,
  op: 0 | 1,
  a: TensorInfo,
  b: TensorInfo,
): TensorInfo {
  const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  if (tf.util.sizeFromShape(outShape) >= SMALL_ELEMENTS) return runWasmKernel(wasm, kernelName, { a, b });
  const left = expandedTo(wasm, a, outShape);
  const right = expandedTo(wasm, b, outShape);
  const y = binaryWasm(wasm, kernelName, op, left, right);
  disposeIntermediates(wasm, ...[left, right].filter((t) => t !== a && t !== b));
  return y;
}

/** a + b of wasm tensors (also the bias of fused convolutions and products); the caller owns the result. */
export function addWasm(wasm: WasmBackend, a: TensorInfo, b: TensorInfo): TensorInfo {
  return binaryWasm(wasm, tf.Add, 1, a, b);
}

function binary(kernelName: typeof tf.Multiply | typeof tf.Add, op: 0 | 1): KernelFunc {
  return ({ inputs, backend }) => {
    const { a, b } = inputs as unknown as BinaryInputs & { a: TensorInfo; b: TensorInfo };
    return binaryWasm(asWasmBackend(backend), kernelName, op, a, b);
  };
}

export const reluConfig: KernelConfig = { kernelName: tf.Relu, backendName: 'wasm', kernelFunc: relu };
export const stepConfig: KernelConfig = { kernelName: tf.Step, backendName: 'wasm', kernelFunc: step };
export const multiplyConfig: KernelConfig = { kernelName: tf.Multiply, backendName: 'wasm', kernelFunc: binary(tf.Multiply, 0) };
export const addConfig: KernelConfig = { kernelName: tf.Add, backendName: 'wasm', kernelFunc: binary(tf.Add, 1) };
