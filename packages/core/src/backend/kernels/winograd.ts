/**
 * 3×3 stride-1 convolutions and both their gradients by Winograd's F(4×4, 3×3) (Lavin & Gray 2016).
 *
 * XNNPACK runs a 3×3 convolution as an implicit GEMM with 9·CI multiply-adds per output pixel and channel;
 * on wasm's 128-bit SIMD (no FMA) that is 20–30 GFLOP/s on this project's machine, where PyTorch's oneDNN
 * uses AVX-512 with FMA. Winograd's transform turns the same convolution into 36 plain products over 6×6
 * tiles with 36·CI multiply-adds per 16 output pixels — 4x fewer — at the price of transforms that are
 * linear in the data (kernels.c `winograd_*`, two threads). ResNet and the small CNNs are mostly such
 * convolutions, in the forward pass, the input gradient (a full correlation with the rotated filter,
 * itself a 3×3 stride-1 convolution) and the filter gradient (the same products with the tile axis reduced).
 *
 * Numerics: float32 Winograd F(4×4, 3×3) differs from direct convolution by ~1e-5 relative to the output's
 * scale (the transforms have entries up to 8 and 1/24); the kernel tests bound it against the cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {
  Conv2DAttrs,
  Conv2DInputs,
  FusedConv2DAttrs,
  FusedConv2DInputs,
  KernelConfig,
  KernelFunc,
  TensorInfo,
} from '@tensorflow/tfjs-core';

import { SslError, formatValue } from '../../errors';
import { addBiasAndActivate } from './matmul';
import {
  FILTER_GRADIENT_ROWS_PER_CHUNK,
  FILTER_GRADIENT_TILE_M,
  runOnTwoThreads,
  simdKernels,
  type SimdKernels,
} from './simd/simd-kernels';
import { asWasmBackend, disposeIntermediates, heapFloat32, heapIndex, heapOffset, runWasmKernel, type WasmBackend } from './wasm-internals';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/** Transformed tiles of one chunk of images, in floats (36 positions × tiles × channels): bounds the scratch at 64 MB. */
let chunkFloats = 1 << 24;

/** For tests: a smaller chunk (in floats) so that small inputs are processed in several chunks. */
export function setWinogradChunkFloats(floats: number): void {
  chunkFloats = floats;
}

/**
 * Below this many channels on either side the products are too thin for the transforms to pay. Measured
 * (forward / input gradient / filter gradient, direct ÷ Winograd, batch 512 and 128): 8 channels 0.5–0.8x,
 * 16 channels 0.8–1.7x (28×28 16→16 1.1x; 14×14 16→32 gradients 0.8x), 32–128 channels 1.1–2.4x.
 */
const MIN_CHANNELS = 16;

let winogradEnabled = true;

/** For benchmarks and tests: run 3×3 convolutions through XNNPACK's direct path even where Winograd applies. */
export function setWinogradEnabled(enabled: boolean): void {
  winogradEnabled = enabled;
}

/** The SIMD kernels when `info` is a convolution Winograd F(4×4, 3×3) computes here, else undefined. */
export function winogradKernels(backend: WasmBackend, info: Conv2DInfo): SimdKernels | undefined {
  const applies =
    winogradEnabled &&
    info.filterHeight === 3 &&
    info.filterWidth === 3 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    info.inChannels % 4 === 0 &&
    info.outChannels % 4 === 0 &&
    Math.min(info.inChannels, info.outChannels) >= MIN_CHANNELS &&
    info.padInfo.top >= 0 &&
    info.padInfo.left >= 0 &&
    info.padInfo.top <= 2 &&
    info.padInfo.left <= 2;
  return applies ? simdKernels(backend) : undefined;
}

interface TileGrid {
  tilesHeight: number;
  tilesWidth: number;
  tilesPerImage: number;
  imagesPerChunk: number;
}

function tileGrid(batchSize: number, outHeight: number, outWidth: number, widestChannels: number): TileGrid {
  const tilesHeight = Math.ceil(outHeight / 4);
  const tilesWidth = Math.ceil(outWidth / 4);
  const tilesPerImage = tilesHeight * tilesWidth;
  const imagesPerChunk = Math.max(1, Math.min(batchSize, Math.floor(chunkFloats / (36 * tilesPerImage * widestChannels))));
  return { tilesHeight, tilesWidth, tilesPerImage, imagesPerChunk };
}

/** Floats in one 64-byte cache line. */
const LINE_FLOATS = 16;

/**
 * Floats from one position's plane to the next in the transformed tiles (kernels.c: 36 planes of [tiles][C]): the
 * plane rounded up to an odd number of cache lines. The transforms touch all 36 planes for every tile; planes a
 * multiple of 4 KB apart (1 792 tiles × 16 channels × 4 bytes at FixMatch's batch of 112, every power-of-two batch)
 * put all 36 accesses in one L1 set of 8 ways, which made the transforms 3–4x slower. An odd line count spreads
 * the 36 planes over 36 distinct sets.
 */
export function positionPlane(tiles: number, channels: number): number {
  const lines = Math.ceil((tiles * channels) / LINE_FLOATS);
  return (lines % 2 === 0 ? lines + 1 : lines) * LINE_FLOATS;
}

/** The filter [3, 3, CI, CO] as 36 matrices [CI, CO]; the caller owns the result. */
function transformedFilter(
  backend: WasmBackend,
  kernels: SimdKernels,
  filter: TensorInfo,
  inChannels: number,
  outChannels: number,
): TensorInfo {
  const transformed = backend.makeOutput([36, inChannels, outChannels], 'float32');
  kernels.winograd_filter_transform(heapOffset(backend, filter), heapOffset(backend, transformed), inChannels, outChannels);
  return transformed;
}

/** Splits tiles [0, tiles) of one transform call between this thread and the helper. */
function transformTiles(
  backend: WasmBackend,
  kernels: SimdKernels,
  kernel: 'winograd_input_transform' | 'winograd_output_transform' | 'winograd_gradient_transform',
  leading: number[],
  tiles: number,
): void {
  runOnTwoThreads(backend, kernels, kernel, (_thread, first, last) => [...leading, first, last], Math.ceil(tiles / 2), tiles, tiles > 1);
}

/**
 * y[b, oh, ow, co] = Σ x[b, oh + kh − padTop, ow + kw − padLeft, ci] · w[kh, kw, ci, co] over a 3×3
 * window (zero outside x), for a filter given in transformed form `u` [36, CI, CO].
 */
function correlate3x3(
  backend: WasmBackend,
  kernels: SimdKernels,
  x: TensorInfo,
  u: TensorInfo,
  outChannels: number,
  padTop: number,
  padLeft: number,
  outHeight: number,
  outWidth: number,
): TensorInfo {
  const [batchSize, height, width, inChannels] = x.shape;
  const grid = tileGrid(batchSize, outHeight, outWidth, Math.max(inChannels, outChannels));
  const chunkTiles = grid.imagesPerChunk * grid.tilesPerImage;
  const [vPlane, mPlane] = [positionPlane(chunkTiles, inChannels), positionPlane(chunkTiles, outChannels)];
  const y = backend.makeOutput([batchSize, outHeight, outWidth, outChannels], 'float32');
  const v = backend.makeOutput([36 * vPlane], 'float32');
  const m = backend.makeOutput([36 * mPlane], 'float32');
  for (let first = 0; first < batchSize; first += grid.imagesPerChunk) {
    const images = Math.min(grid.imagesPerChunk, batchSize - first);
    const tiles = images * grid.tilesPerImage;
    const xChunk = heapOffset(backend, x) + 4 * first * height * width * inChannels;
    const yChunk = heapOffset(backend, y) + 4 * first * outHeight * outWidth * outChannels;
    transformTiles(
      backend,
      kernels,
      'winograd_input_transform',
      [xChunk, heapOffset(backend, v), height, width, inChannels, padTop, padLeft, grid.tilesHeight, grid.tilesWidth, vPlane],
      tiles,
    );
    products(backend, kernels, { v, u, m, vPlane, mPlane }, tiles, inChannels, outChannels);
    transformTiles(
      backend,
      kernels,
      'winograd_output_transform',
      [heapOffset(backend, m), yChunk, outHeight, outWidth, outChannels, grid.tilesHeight, grid.tilesWidth, mPlane],
      tiles,
    );
  }
  disposeIntermediates(backend, v, m);
  return y;
}

/**
 * m[ξ] = v[ξ]·u[ξ] for the 36 positions ξ: v [36][tiles, CI] and m [36][tiles, CO] (planes `vPlane`, `mPlane` floats
 * apart), u [36][CI, CO], by kernels.c's
 * batch_matmul, half of the positions on each thread. Measured against one XNNPACK product per position on
 * ResNet's layers at batch 256: 30-40 % faster at every width from 64 to 512 channels (no operator setup and
 * packing per call).
 */
function products(
  backend: WasmBackend,
  kernels: SimdKernels,
  { v, u, m, vPlane, mPlane }: { v: TensorInfo; u: TensorInfo; m: TensorInfo; vPlane: number; mPlane: number },
  tiles: number,
  inChannels: number,
  outChannels: number,
): void {
  const call = (_thread: 0 | 1, first: number, last: number) => [
    heapOffset(backend, v),
    heapOffset(backend, u),
    heapOffset(backend, m),
    first,
    last,
    tiles,
    inChannels,
    outChannels,
    vPlane,
    mPlane,
  ];
  runOnTwoThreads(backend, kernels, 'batch_matmul', call, 18, 36, true);
}

/** Forward convolution (Conv2D) for a geometry `winogradKernels` accepted. */
export function conv2dWinograd(
  backend: WasmBackend,
  kernels: SimdKernels,
  x: TensorInfo,
  filter: TensorInfo,
  info: Conv2DInfo,
): TensorInfo {
  const u = transformedFilter(backend, kernels, filter, info.inChannels, info.outChannels);
  const y = correlate3x3(backend, kernels, x, u, info.outChannels, info.padInfo.top, info.padInfo.left, info.outHeight, info.outWidth);
  disposeIntermediates(backend, u);
  return y;
}

/**
 * dx for a geometry `winogradKernels` accepted: the full correlation of dy with the filter rotated by 180°
 * and its channel axes swapped, a 3×3 stride-1 convolution padded by 2 − the forward padding.
 */
export function conv2dInputGradientWinograd(
  backend: WasmBackend,
  kernels: SimdKernels,
  dy: TensorInfo,
  rotatedSwapped: TensorInfo,
  info: Conv2DInfo,
): TensorInfo {
  const u = transformedFilter(backend, kernels, rotatedSwapped, info.outChannels, info.inChannels);
  const dx = correlate3x3(
    backend,
    kernels,
    dy,
    u,
    info.inChannels,
    2 - info.padInfo.top,
    2 - info.padInfo.left,
    info.inHeight,
    info.inWidth,
  );
  disposeIntermediates(backend, u);
  return dx;
}

/** How the filter gradient's 36 products run: 'rows' (conv2d_filter_gradient per position) or 'blocked' (kernels.c `winograd_filter_products`). */
export type WinogradFilterProducts = 'blocked' | 'rows';
/**
 * 'blocked' by default: the filter gradient 1.2–1.4x less CPU per layer, whole training steps ~10 % less (2026-12-06,
 * bench/winograd-filter-ab.ts under load: simclr-cnn28 817 → 736 ms of CPU, resnet18-cifar32 16.3 → 14.6 s), as close
 * to cpu as 'rows'. It sums in another order, which moves a seeded run's figures as any perturbation does; the CI
 * learning tests that hung on it (swav, mocov3) now average two seeds, and every one was measured under both orders.
 */
export const DEFAULT_WINOGRAD_FILTER_PRODUCTS: WinogradFilterProducts = 'blocked';
const FILTER_PRODUCTS: readonly WinogradFilterProducts[] = ['blocked', 'rows'];

/**
 * The process's choice: `SSL_WINOGRAD_FILTER_PRODUCTS=rows|blocked` (read once, when this module loads, as SSL_THREADS is
 * read by initBackend), so a whole test file or training run can be measured under either summation order.
 */
function filterProductsFromEnvironment(): WinogradFilterProducts {
  const value = typeof process === 'undefined' ? undefined : process.env.SSL_WINOGRAD_FILTER_PRODUCTS?.trim();
  if (!value) return DEFAULT_WINOGRAD_FILTER_PRODUCTS;
  if (!(FILTER_PRODUCTS as readonly string[]).includes(value)) {
    throw new SslError(
      'invalid-config',
      `Unknown SSL_WINOGRAD_FILTER_PRODUCTS ${formatValue(value)}: use one of ${FILTER_PRODUCTS.join(', ')}, or unset it for the default (${DEFAULT_WINOGRAD_FILTER_PRODUCTS}).`,
      { details: { value, valid: FILTER_PRODUCTS } },
    );
  }
  return value as WinogradFilterProducts;
}

let filterProducts: WinogradFilterProducts = filterProductsFromEnvironment();

/** For benchmarks and tests: which path the filter gradient's products take (see DEFAULT_WINOGRAD_FILTER_PRODUCTS). */
export function setWinogradFilterProducts(method: WinogradFilterProducts): void {
  filterProducts = method;
}

/** The path the filter gradient's products take now: the environment's choice or the default, unless a setter changed it. */
export function winogradFilterProducts(): WinogradFilterProducts {
  return filterProducts;
}

/**
 * For tests: runs f with the filter gradient's products and/or the chunk size set, then puts back what was set before
 * — the process's choice (SSL_WINOGRAD_FILTER_PRODUCTS), not the default, so the rest of a file keeps its order.
 */
export async function withWinogradSettings<T>(
  settings: { readonly filterProducts?: WinogradFilterProducts; readonly chunkFloats?: number },
  f: () => Promise<T>,
): Promise<T> {
  const before = { filterProducts, chunkFloats };
  filterProducts = settings.filterProducts ?? filterProducts;
  chunkFloats = settings.chunkFloats ?? chunkFloats;
  try {
    return await f();
  } finally {
    ({ filterProducts, chunkFloats } = before);
  }
}

/** Tiles per block of the filter gradient's reduction: dm's rows of a block, 8192 / CO floats, fill 32 KB of L1. */
let filterBlockTiles = (outChannels: number): number => Math.max(16, Math.min(256, Math.floor(8192 / outChannels)));

/** For tests: a fixed (small) block of tiles, so that small inputs are reduced over several blocks; undefined restores. */
export function setWinogradFilterBlockTiles(tiles: number | undefined): void {
  filterBlockTiles = tiles === undefined ? (outChannels) => Math.max(16, Math.min(256, Math.floor(8192 / outChannels))) : () => tiles;
}

/**
 * dw for a geometry `winogradKernels` accepted: du[ξ] = Σ_tiles v[ξ]ᵀ·dm[ξ] (v the input's transformed tiles,
 * dm = A·dY·Aᵀ per output tile), by kernels.c's `winograd_filter_products` (tiles in blocks that stay in L1, half of
 * the positions on each thread, later chunks of the batch added in place), then dw = Gᵀ·du·G.
 */
export function conv2dFilterGradientWinograd(
  backend: WasmBackend,
  kernels: SimdKernels,
  x: TensorInfo,
  dy: TensorInfo,
  info: Conv2DInfo,
): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const grid = tileGrid(batchSize, outHeight, outWidth, Math.max(inChannels, outChannels));
  const chunkTiles = grid.imagesPerChunk * grid.tilesPerImage;
  const [vPlane, dmPlane] = [positionPlane(chunkTiles, inChannels), positionPlane(chunkTiles, outChannels)];
  const v = backend.makeOutput([36 * vPlane], 'float32');
  const dm = backend.makeOutput([36 * dmPlane], 'float32');
  const du = backend.makeOutput([36, inChannels, outChannels], 'float32');
  const chunked = grid.imagesPerChunk < batchSize && filterProducts === 'rows';
  const partial = chunked ? backend.makeOutput([36, inChannels, outChannels], 'float32') : du;
  const scratchLength = FILTER_GRADIENT_ROWS_PER_CHUNK + inChannels;
  const scratch = backend.makeOutput([2 * scratchLength], 'int32');
  const planeSize = inChannels * outChannels;
  const tilesOfM = Math.ceil(inChannels / FILTER_GRADIENT_TILE_M);
  const split = Math.min(inChannels, Math.ceil(tilesOfM / 2) * FILTER_GRADIENT_TILE_M);
  for (let first = 0; first < batchSize; first += grid.imagesPerChunk) {
    const images = Math.min(grid.imagesPerChunk, batchSize - first);
    const tiles = images * grid.tilesPerImage;
    const xChunk = heapOffset(backend, x) + 4 * first * inHeight * inWidth * inChannels;
    const dyChunk = heapOffset(backend, dy) + 4 * first * outHeight * outWidth * outChannels;
    transformTiles(
      backend,
      kernels,
      'winograd_input_transform',
      [
        xChunk,
        heapOffset(backend, v),
        inHeight,
        inWidth,
        inChannels,
        info.padInfo.top,
        info.padInfo.left,
        grid.tilesHeight,
        grid.tilesWidth,
        vPlane,
      ],
      tiles,
    );
    transformTiles(
      backend,
      kernels,
      'winograd_gradient_transform',
      [dyChunk, heapOffset(backend, dm), outHeight, outWidth, outChannels, grid.tilesHeight, grid.tilesWidth, dmPlane],
      tiles,
    );
    if (filterProducts === 'blocked') {
      const call = (_thread: 0 | 1, begin: number, end: number) => [
        heapOffset(backend, v),
        heapOffset(backend, dm),
        heapOffset(backend, du),
        begin,
        end,
        tiles,
        inChannels,
        outChannels,
        filterBlockTiles(outChannels),
        first === 0 ? 0 : 1,
        vPlane,
        dmPlane,
      ];
      runOnTwoThreads(backend, kernels, 'winograd_filter_products', call, 18, 36, true);
      continue;
    }
    const target = first === 0 ? du : partial;
    for (let position = 0; position < 36; position++) {
      const vPosition = heapOffset(backend, v) + 4 * position * vPlane;
      const dmPosition = heapOffset(backend, dm) + 4 * position * dmPlane;
      const duPosition = heapOffset(backend, target) + 4 * position * planeSize;
      const args = (thread: 0 | 1, mBegin: number, mEnd: number): number[] => {
        const rowBases = heapOffset(backend, scratch) + 4 * thread * scratchLength;
        return [
          vPosition,
          dmPosition,
          duPosition,
          1,
          tiles,
          1,
          inChannels,
          tiles,
          1,
          outChannels,
          1,
          1,
          1,
          1,
          1,
          1,
          rowBases,
          rowBases + 4 * FILTER_GRADIENT_ROWS_PER_CHUNK,
          mBegin,
          mEnd,
        ];
      };
      runOnTwoThreads(backend, kernels, 'conv2d_filter_gradient', args, split, inChannels, tilesOfM > 1);
    }
    if (target !== du) {
      const heap = heapFloat32(backend);
      const sum = heapIndex(backend, du);
      const add = heapIndex(backend, target);
      for (let i = 0; i < 36 * planeSize; i++) heap[sum + i] += heap[add + i];
    }
  }
  const dw = backend.makeOutput([3, 3, inChannels, outChannels], 'float32');
  kernels.winograd_filter_adjoint(heapOffset(backend, du), heapOffset(backend, dw), inChannels, outChannels);
  disposeIntermediates(backend, v, dm, du, scratch, ...(chunked ? [partial] : []));
  return dw;
}

/** The geometry and SIMD kernels when a Conv2D / FusedConv2D call can take the Winograd path. */
function winogradCall(
  backend: WasmBackend,
  x: TensorInfo,
  filter: TensorInfo,
  attrs: Conv2DAttrs,
): { info: Conv2DInfo; kernels: SimdKernels } | undefined {
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs;
  if (dataFormat !== 'NHWC' || x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape.length !== 4) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const kernels = winogradKernels(backend, info);
  return kernels === undefined ? undefined : { info, kernels };
}

function conv2dKernel(args: { inputs: Conv2DInputs; backend: unknown; attrs: Conv2DAttrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const call = winogradCall(backend, x, filter, args.attrs);
  if (call !== undefined) return conv2dWinograd(backend, call.kernels, x, filter, call.info);
  return runWasmKernel(backend, tf.Conv2D, args.inputs as unknown as tf.NamedTensorInfoMap, args.attrs as unknown as tf.NamedAttrMap);
}

/** Conv + bias + activation (what tf.layers.conv2d runs): the convolution by Winograd, the rest element-wise. */
function fusedConv2dKernel(args: { inputs: FusedConv2DInputs; backend: unknown; attrs: FusedConv2DAttrs }): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, filter, bias, preluActivationWeights } = args.inputs as {
    x: TensorInfo;
    filter: TensorInfo;
    bias?: TensorInfo;
    preluActivationWeights?: TensorInfo;
  };
  const call = winogradCall(backend, x, filter, args.attrs);
  if (call === undefined) {
    return runWasmKernel(
      backend,
      tf.FusedConv2D,
      args.inputs as unknown as tf.NamedTensorInfoMap,
      args.attrs as unknown as tf.NamedAttrMap,
    );
  }
  const y = conv2dWinograd(backend, call.kernels, x, filter, call.info);
  return addBiasAndActivate(backend, y, bias, args.attrs.activation, preluActivationWeights, args.attrs.leakyreluAlpha);
}

export const fusedConv2dConfig: KernelConfig = {
  kernelName: tf.FusedConv2D,
  backendName: 'wasm',
  kernelFunc: fusedConv2dKernel as unknown as KernelFunc,
};

/** Conv2D on wasm: Winograd where it applies, the backend's own (XNNPACK) kernel otherwise. */
export const conv2dConfig: KernelConfig = {
  kernelName: tf.Conv2D,
  backendName: 'wasm',
  kernelFunc: conv2dKernel as unknown as KernelFunc,
};
