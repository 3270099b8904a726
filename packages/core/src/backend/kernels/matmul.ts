/**
 * Matrix products on the wasm backend that never fall to its scalar loop.
 *
 * tfjs-backend-wasm's BatchMatMul only uses XNNPACK's fully-connected operator when neither operand
 * is transposed and both have batch 1; every other case (transposeA/B, batched attention products,
 * and therefore every matmul gradient) runs a scalar blocked loop at ~1-3 GFLOP/s versus ~30 for
 * XNNPACK. And XNNPACK's fully-connected operator runs on the calling thread only (tfjs-backend-wasm sets it
 * up without its thread pool). So single products (one right matrix, every batch of left matrices folded into
 * its rows: dense layers and their gradients) run kernels.c's GEMM on both threads when the helper thread runs,
 * reading transposed operands in place; otherwise transposes are done explicitly first (O(n^2) data movement for
 * an O(n^3) product) and XNNPACK runs the product. Batches of right matrices run kernels.c's batched kernel
 * when small (attention) and one XNNPACK product per batch on zero-copy views of the operands otherwise.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {
  BatchMatMulAttrs,
  BatchMatMulInputs,
  KernelConfig,
  KernelFunc,
  TensorInfo,
  _FusedMatMulAttrs,
  _FusedMatMulInputs,
} from '@tensorflow/tfjs-core';

import { addWasm, reluWasm } from './elementwise';
import { runOnTwoThreads, simdHelperThread, simdKernels, type SimdKernels } from './simd/simd-kernels';
import { transposeWasm } from './transpose';
import {
  asWasmBackend,
  disposeIntermediates,
  heapOffset,
  int32Bytes,
  makeView,
  releaseView,
  runWasmKernel,
  wasmFunction,
  wasmTensorId,
  withShape,
  type WasmBackend,
} from './wasm-internals';

/**
 * out[M, N] = a[M, K] b[K, N] with XNNPACK, all three given as tensors (possibly views) of at least
 * that many elements. Goes through the C++ BatchMatMul entry point with batch 1 and no transposes,
 * which is the path that creates an XNNPACK fully-connected operator.
 */
export function matMulInto(backend: WasmBackend, a: TensorInfo, b: TensorInfo, out: TensorInfo, m: number, k: number, n: number): void {
  const batchMatMul = wasmFunction(backend, 'BatchMatMul', [
    'number',
    'array',
    'number',
    'number',
    'array',
    'number',
    'number',
    'number',
    'number',
  ]);
  batchMatMul(
    wasmTensorId(backend, a),
    int32Bytes([1, m, k]),
    3,
    wasmTensorId(backend, b),
    int32Bytes([1, k, n]),
    3,
    0,
    0,
    wasmTensorId(backend, out),
  );
}

/** Per-matrix multiply-adds below which a batch of products goes to the backend's own batched kernel. */
const SMALL_PRODUCT = 128 * 128 * 64;

/** Swaps the last two axes of a [batch, rows, columns] tensor. */
function transposeLastTwo(backend: WasmBackend, x: TensorInfo, batch: number, rows: number, columns: number): TensorInfo {
  return transposeWasm(backend, withShape(x, [batch, rows, columns]), [0, 2, 1]);
}

/**
 * Batched a·b (optionally transposing either operand's last two axes), broadcasting the batch axes
 * like tf.matMul. Returns a new float32 tensor the caller owns.
 */
export function batchMatMulWasm(backend: WasmBackend, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const m = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
  const k = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
  const n = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
  const kOfB = transposeB ? b.shape[bRank - 1] : b.shape[bRank - 2];
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  const outerOut = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
  const batchOut = tf.util.sizeFromShape(outerOut);
  // Only "same batch" and "one side has a single matrix" reduce to flat loops; other broadcasts are rare.
  const simpleBroadcast =
    batchA === batchB ? tf.util.arraysEqual(outerA, outerB) || outerA.length === 0 || outerB.length === 0 : batchA === 1 || batchB === 1;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || k !== kOfB || !simpleBroadcast || m * n * k === 0) {
    return runWasmKernel(backend, tf.BatchMatMul, { a, b }, { transposeA, transposeB });
  }
  // Many small products (attention heads: [N·heads, tokens, headDim]) cost more in per-call XNNPACK
  // operator setup than in arithmetic. kernels.c's batch_matmul does them in one call with SIMD, split
  // with the helper thread; without the SIMD module, the backend's own batched loop (scalar, but 30–60x
  // faster than per-product XNNPACK calls there).
  if (batchOut > 1 && batchB > 1 && m * n * k <= SMALL_PRODUCT) {
    const kernels = simdKernels(backend);
    if (kernels === undefined) return runWasmKernel(backend, tf.BatchMatMul, { a, b }, { transposeA, transposeB });
    return smallBatchMatMul(backend, kernels, a, b, transposeA, transposeB, { batchA, batchOut, outerOut, m, k, n });
  }

  // One right matrix: every left matrix's rows stack into a single [batchA·m, k] product, which kernels.c's
  // GEMM runs on both threads (XNNPACK's fully-connected operator, below, runs on one).
  const gemm = batchB === 1 ? gemmKernels(backend) : undefined;
  if (gemm !== undefined) {
    const out = backend.makeOutput([...outerOut, m, n], 'float32');
    gemmInto(backend, gemm, a, b, undefined, out, { batchA, m, k, n, transposeA, transposeB });
    return out;
  }

  const intermediates: TensorInfo[] = [];
  const left = transposeA ? transposeLastTwo(backend, a, batchA, k, m) : a;
  if (transposeA) intermediates.push(left);
  const right = transposeB ? transposeLastTwo(backend, b, batchB, n, k) : b;
  if (transposeB) intermediates.push(right);

  const out = backend.makeOutput([...outerOut, m, n], 'float32');
  if (batchB === 1) {
    // One right matrix: every left matrix's rows stack into a single [batchA*m, k] product.
    matMulInto(backend, left, right, out, batchA * m, k, n);
  } else {
    for (let index = 0; index < batchOut; index++) {
      const leftView = makeView(backend, left, (batchA === 1 ? 0 : index) * m * k, [m, k]);
      const rightView = makeView(backend, right, index * k * n, [k, n]);
      const outView = makeView(backend, out, index * m * n, [m, n]);
      matMulInto(backend, leftView, rightView, outView, m, k, n);
      releaseView(backend, leftView);
      releaseView(backend, rightView);
      releaseView(backend, outView);
    }
  }
  disposeIntermediates(backend, ...intermediates);
  return out;
}

/** Multiply-adds below which a batched product runs on one thread (the helper's handshake costs ~0.1 ms). */
const HELPER_THRESHOLD = 1 << 18;

/** kernels.c's GEMM_MR and GEMM_NR: rows of a register tile (threads split c's rows in multiples of it), columns of a packed panel. */
const GEMM_MR = 4;
const GEMM_NR = 8;

export type MatMulMethod = 'auto' | 'xnnpack';
let matMulMethod: MatMulMethod = 'auto';

/**
 * For benchmarks and tests: 'xnnpack' sends single products (one right matrix) back to XNNPACK's
 * fully-connected operator, as before kernels.c's two-thread GEMM; 'auto' uses the GEMM when the SIMD module runs.
 */
export function setMatMulMethod(method: MatMulMethod): void {
  matMulMethod = method;
}

/**
 * kernels.c's GEMM when it can take the second core. On one thread (no helper: SSL_THREADS=1, browsers) it costs
 * about what XNNPACK does on tall products and up to a third more on weight gradients (bench/matmul-ab.ts), so
 * XNNPACK keeps them there.
 */
function gemmKernels(backend: WasmBackend): SimdKernels | undefined {
  return matMulMethod === 'auto' && simdHelperThread(backend) !== undefined ? simdKernels(backend) : undefined;
}

/**
 * out[batchA·m, n] = op(a)·op(b) (+ bias) by kernels.c's gemm_pack_b and gemm_packed: op(b) packed into
 * 8-column panels (both threads, by panel), then c's rows split between the threads. a is [batchA, m, k]
 * ([batchA, k, m] when transposed: read in place when batchA is 1, transposed first otherwise), b [k, n]
 * ([n, k] when transposed: packing reads it in place).
 */
function gemmInto(
  backend: WasmBackend,
  kernels: SimdKernels,
  a: TensorInfo,
  b: TensorInfo,
  bias: TensorInfo | undefined,
  out: TensorInfo,
  {
    batchA,
    m,
    k,
    n,
    transposeA,
    transposeB,
  }: { batchA: number; m: number; k: number; n: number; transposeA: boolean; transposeB: boolean },
): void {
  // A transposed left matrix is read in place (row stride 1, depth stride m) when it is a single one.
  const left = transposeA && batchA > 1 ? transposeLastTwo(backend, a, batchA, k, m) : a;
  const [rowStride, depthStride] = transposeA && left === a ? [1, m] : [k, 1];
  const panels = Math.ceil(n / GEMM_NR);
  const packed = backend.makeOutput([panels * k * GEMM_NR], 'float32');
  const rows = batchA * m;
  const twoThreads = rows * k * n >= HELPER_THRESHOLD;
  const pack = (_thread: 0 | 1, first: number, last: number) => [
    heapOffset(backend, b),
    heapOffset(backend, packed),
    k,
    n,
    transposeB ? 1 : 0,
    first,
    last,
  ];
  runOnTwoThreads(backend, kernels, 'gemm_pack_b', pack, Math.ceil(panels / 2), panels, twoThreads && panels > 1 && k * n >= 1 << 16);
  const multiply = (_thread: 0 | 1, first: number, last: number) => [
    heapOffset(backend, left),
    heapOffset(backend, packed),
    bias === undefined ? 0 : heapOffset(backend, bias),
    heapOffset(backend, out),
    first,
    last,
    k,
    n,
    rowStride,
    depthStride,
  ];
  const split = Math.min(rows, GEMM_MR * Math.ceil(rows / GEMM_MR / 2));
  runOnTwoThreads(backend, kernels, 'gemm_packed', multiply, split, rows, twoThreads && split < rows);
  disposeIntermediates(backend, packed, ...(left !== a ? [left] : []));
}

function smallBatchMatMul(
  backend: WasmBackend,
  kernels: SimdKernels,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  { batchA, batchOut, outerOut, m, k, n }: { batchA: number; batchOut: number; outerOut: number[]; m: number; k: number; n: number },
): TensorInfo {
  const left = transposeA ? transposeLastTwo(backend, a, batchA, k, m) : a;
  const right = transposeB ? transposeLastTwo(backend, b, batchOut, n, k) : b;
  const out = backend.makeOutput([...outerOut, m, n], 'float32');
  const call = (_thread: 0 | 1, first: number, last: number) => [
    heapOffset(backend, left),
    heapOffset(backend, right),
    heapOffset(backend, out),
    first,
    last,
    m,
    k,
    n,
    batchA === 1 ? 0 : m * k,
    m * n,
  ];
  runOnTwoThreads(backend, kernels, 'batch_matmul', call, Math.ceil(batchOut / 2), batchOut, batchOut * m * n * k >= HELPER_THRESHOLD);
  disposeIntermediates(backend, ...(transposeA ? [left] : []), ...(transposeB ? [right] : []));
  return out;
}

function batchMatMulKernel(args: { inputs: BatchMatMulInputs; backend: unknown; attrs: BatchMatMulAttrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  return batchMatMulWasm(backend, a, b, args.attrs.transposeA, args.attrs.transposeB);
}

/**
 * _FusedMatMul (matmul + bias + activation, what tf.layers.dense runs). The backend's own kernel is
 * fast for 2-D untransposed products, so we keep it there and otherwise compute the product with
 * `batchMatMulWasm` and apply bias and activation with the backend's elementwise kernels.
 */
function fusedMatMulKernel(args: { inputs: _FusedMatMulInputs; backend: unknown; attrs: _FusedMatMulAttrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { a, b, bias, preluActivationWeights } = args.inputs as {
    a: TensorInfo;
    b: TensorInfo;
    bias?: TensorInfo;
    preluActivationWeights?: TensorInfo;
  };
  const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs;
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  const float32 = a.dtype === 'float32' && b.dtype === 'float32' && (bias === undefined || bias.dtype === 'float32');
  // One right matrix (a dense layer: tf.fused.matMul passes [1, m, k]·[1, k, n]): kernels.c's GEMM, with a bias
  // per column added in it.
  const gemm = float32 && batchB === 1 ? gemmKernels(backend) : undefined;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const [m, k] = transposeA ? [a.shape[aRank - 1], a.shape[aRank - 2]] : [a.shape[aRank - 2], a.shape[aRank - 1]];
  const n = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
  // A bias per column goes into the product (the GEMM or XNNPACK); any other broadcast is added after it: the
  // stock kernel reads a [1] bias as if it had n values.
  const columnBias = bias === undefined || (bias.shape.length === 1 && bias.shape[0] === n);
  if (gemm !== undefined && m * k * n > 0) {
    const outer = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const product = backend.makeOutput([...outer, m, n], 'float32');
    gemmInto(backend, gemm, a, b, columnBias ? bias : undefined, product, { batchA, m, k, n, transposeA, transposeB });
    return addBiasAndActivate(backend, product, columnBias ? undefined : bias, activation, preluActivationWeights, leakyreluAlpha);
  }
  const fastInBackend = !transposeA && !transposeB && batchA === 1 && batchB === 1 && columnBias;
  if (fastInBackend || !float32) {
    return runWasmKernel(
      backend,
      tf._FusedMatMul,
      args.inputs as unknown as tf.NamedTensorInfoMap,
      args.attrs as unknown as tf.NamedAttrMap,
    );
  }
  const product = batchMatMulWasm(backend, a, b, transposeA, transposeB);
  return addBiasAndActivate(backend, product, bias, activation, preluActivationWeights, leakyreluAlpha);
}

/**
 * The epilogue of a fused matmul or conv: + bias, then the activation, by the backend's element-wise
 * kernels. Takes ownership of `x` (disposed when a new tensor replaces it).
 */
export function addBiasAndActivate(
  backend: WasmBackend,
  x: TensorInfo,
  bias: TensorInfo | undefined,
  activation: _FusedMatMulAttrs['activation'] | undefined,
  preluWeights: TensorInfo | undefined,
  leakyreluAlpha: number | undefined,
): TensorInfo {
  let result = x;
  if (bias !== undefined) {
    const biased = addWasm(backend, result, bias);
    disposeIntermediates(backend, result);
    result = biased;
  }
  if (activation !== undefined && activation !== 'linear') {
    const activated = applyActivation(backend, result, activation, preluWeights, leakyreluAlpha);
    disposeIntermediates(backend, result);
    result = activated;
  }
  return result;
}

function applyActivation(
  backend: WasmBackend,
  x: TensorInfo,
  activation: NonNullable<_FusedMatMulAttrs['activation']>,
  preluWeights: TensorInfo | undefined,
  leakyreluAlpha: number | undefined,
): TensorInfo {
  switch (activation) {
    case 'relu':
      return reluWasm(backend, x);
    case 'relu6':
      return runWasmKernel(backend, tf.Relu6, { x });
    case 'elu':
      return runWasmKernel(backend, tf.Elu, { x });
    case 'sigmoid':
      return runWasmKernel(backend, tf.Sigmoid, { x });
    case 'leakyrelu':
      return runWasmKernel(backend, tf.LeakyRelu, { x }, { alpha: leakyreluAlpha ?? 0.2 });
    case 'prelu':
      if (preluWeights === undefined) throw new Error('prelu activation needs preluActivationWeights');
      return runWasmKernel(backend, tf.Prelu, { x, alpha: preluWeights });
    default:
      return runWasmKernel(backend, tf.Identity, { x });
  }
}

export const batchMatMulConfig: KernelConfig = {
  kernelName: tf.BatchMatMul,
  backendName: 'wasm',
  kernelFunc: batchMatMulKernel as unknown as KernelFunc,
};

export const fusedMatMulConfig: KernelConfig = {
  kernelName: tf._FusedMatMul,
  backendName: 'wasm',
  kernelFunc: fusedMatMulKernel as unknown as KernelFunc,
};
