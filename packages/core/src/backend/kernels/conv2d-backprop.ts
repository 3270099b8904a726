/**
 * Gradients of a 2-D convolution on the wasm backend, built on XNNPACK's forward kernels.
 *
 * Notation (NHWC, filter [KH, KW, CI, CO]): y[b, oh, ow, co] = Σ x[b, oh·s + kh·d − pt, ow·s + kw·d − pl, ci] · w[kh, kw, ci, co].
 * With the patch matrix P[(b, oh, ow), (kh, kw, ci)] = x[b, oh·s + kh·d − pt, ...] (im2col), y = P·W, so
 *   dW = Pᵀ·dy                       (filter gradient: one GEMM, K = B·OH·OW)
 *   dP = dy·Wᵀ, dx = col2im(dP)      (input gradient: one GEMM, then scatter-add of the patches)
 * For stride 1 the input gradient is instead a plain convolution of dy with the filter rotated by 180°
 * and its channel axes swapped ("full" correlation), which XNNPACK runs without any JS pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropFilterInputs,
  Conv2DBackpropInputAttrs,
  Conv2DBackpropInputInputs,
  KernelConfig,
  KernelFunc,
  TensorInfo,
} from '@tensorflow/tfjs-core';

import { SslError } from '../../errors';
import { batchMatMulWasm, matMulInto } from './matmul';
import {
  FILTER_GRADIENT_ROWS_PER_CHUNK,
  FILTER_GRADIENT_TILE_M,
  runOnTwoThreads,
  simdKernels,
  type SimdKernels,
} from './simd/simd-kernels';
import { transposeWasm } from './transpose';
import { conv2dFilterGradientWinograd, conv2dInputGradientWinograd, winogradKernels } from './winograd';
import {
  asWasmBackend,
  disposeIntermediates,
  heapFloat32,
  heapIndex,
  heapOffset,
  makeView,
  releaseView,
  wasmFunction,
  wasmTensorId,
  withShape,
  type WasmBackend,
} from './wasm-internals';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

function channelsLastConvInfo(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: Conv2DBackpropFilterAttrs['pad'],
  dimRoundingMode: Conv2DBackpropFilterAttrs['dimRoundingMode'],
  dataFormat: 'NHWC' | 'NCHW',
): Conv2DInfo {
  if (dataFormat !== 'NHWC') {
    throw new SslError(
      'backend',
      `The wasm conv2d gradients support dataFormat 'NHWC' only (got '${dataFormat}'); transpose the input to channels-last.`,
    );
  }
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** Writes P[(b, oh, ow), (kh, kw, ci)] for x into `patches` (zero where the window hangs over the padding). */
export function im2col(heap: Float32Array, x: number, patches: number, info: Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const rowLength = filterHeight * filterWidth * inChannels;
  const copyWithin = inChannels >= 16;
  let row = patches;
  for (let b = 0; b < batchSize; b++) {
    const xBatch = x + b * inHeight * inWidth * inChannels;
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        let target = row;
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideHeight - padTop + kh * dilationHeight;
          if (ih < 0 || ih >= inHeight) {
            heap.fill(0, target, target + filterWidth * inChannels);
            target += filterWidth * inChannels;
            continue;
          }
          const xRow = xBatch + ih * inWidth * inChannels;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth - padLeft + kw * dilationWidth;
            if (iw < 0 || iw >= inWidth) {
              heap.fill(0, target, target + inChannels);
            } else {
              const source = xRow + iw * inChannels;
              if (copyWithin) heap.copyWithin(target, source, source + inChannels);
              else for (let c = 0; c < inChannels; c++) heap[target + c] = heap[source + c];
            }
            target += inChannels;
          }
        }
        row += rowLength;
      }
    }
  }
}

/**
 * Writes Pᵀ[(kh, kw, ci), (b, oh, ow)] for x into `patches`: the patch matrix already transposed, built
 * row by row of the output image so that for stride 1 and one channel every run is a plain copy.
 */
export function im2colTransposed(heap: Float32Array, x: number, patches: number, info: Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const rows = batchSize * outHeight * outWidth;
  const contiguous = strideWidth === 1 && inChannels === 1;
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      // Output columns whose input column lies inside the image: iw = ow·s − pl + kw·d ∈ [0, inWidth).
      const offset = kw * dilationWidth - padLeft;
      const firstOw = Math.max(0, Math.ceil(-offset / strideWidth));
      const endOw = Math.min(outWidth, Math.max(firstOw, Math.ceil((inWidth - offset) / strideWidth)));
      for (let ci = 0; ci < inChannels; ci++) {
        let target = patches + ((kh * filterWidth + kw) * inChannels + ci) * rows;
        for (let b = 0; b < batchSize; b++) {
          const xBatch = x + b * inHeight * inWidth * inChannels + ci;
          for (let oh = 0; oh < outHeight; oh++) {
            const ih = oh * strideHeight - padTop + kh * dilationHeight;
            if (ih < 0 || ih >= inHeight) {
              heap.fill(0, target, target + outWidth);
            } else {
              if (firstOw > 0) heap.fill(0, target, target + firstOw);
              const xRow = xBatch + ih * inWidth * inChannels;
              if (contiguous) {
                const from = xRow + firstOw + offset;
                heap.copyWithin(target + firstOw, from, from + (endOw - firstOw));
              } else {
                for (let ow = firstOw; ow < endOw; ow++) heap[target + ow] = heap[xRow + (ow * strideWidth + offset) * inChannels];
              }
              if (endOw < outWidth) heap.fill(0, target + endOw, target + outWidth);
            }
            target += outWidth;
          }
        }
      }
    }
  }
}

/** dx[b, ih, iw, ci] = Σ over windows covering (ih, iw) of dP[(b, oh, ow), (kh, kw, ci)]: the adjoint of im2col. */
export function col2im(heap: Float32Array, patches: number, dx: number, info: Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const rowLength = filterHeight * filterWidth * inChannels;
  heap.fill(0, dx, dx + batchSize * inHeight * inWidth * inChannels);
  let row = patches;
  for (let b = 0; b < batchSize; b++) {
    const dxBatch = dx + b * inHeight * inWidth * inChannels;
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideHeight - padTop + kh * dilationHeight;
          if (ih < 0 || ih >= inHeight) continue;
          const dxRow = dxBatch + ih * inWidth * inChannels;
          const patchRow = row + kh * filterWidth * inChannels;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth - padLeft + kw * dilationWidth;
            if (iw < 0 || iw >= inWidth) continue;
            const target = dxRow + iw * inChannels;
            const source = patchRow + kw * inChannels;
            for (let c = 0; c < inChannels; c++) heap[target + c] += heap[source + c];
          }
        }
        row += rowLength;
      }
    }
  }
}

/** Rows of the filter-gradient reduction (images × OH × OW) per XNNPACK call. */
let filterGradientChunkRows = 4096;

/** For benchmarks and tests: rows of K per chunk of the filter gradient (Infinity: one call). */
export function setConv2dFilterGradientChunkRows(rows: number): void {
  filterGradientChunkRows = rows;
}

export type FilterGradientMethod = 'auto' | 'simd' | 'patches-as-weights' | 'transposed-patches' | 'batch-as-channels';
let filterGradientMethod: FilterGradientMethod = 'auto';

/** For benchmarks and tests: force one filter-gradient GEMM arrangement. */
export function setConv2dFilterGradientMethod(method: FilterGradientMethod): void {
  filterGradientMethod = method;
}

/**
 * dW = Pᵀ·dy. Two arrangements of the one GEMM: transpose P explicitly and multiply by dy (XNNPACK
 * packs the small dy as its weights; the result is dW as is), or compute (dyᵀ·P)ᵀ, which transposes
 * only the small operands but makes XNNPACK pack the large patch matrix and leaves only CO rows.
 */
export function conv2dFilterGradient(backend: WasmBackend, x: TensorInfo, dy: TensorInfo, info: Conv2DInfo): TensorInfo {
  const { batchSize, outHeight, outWidth, outChannels, filterHeight, filterWidth, inChannels } = info;
  const rows = batchSize * outHeight * outWidth;
  const patchLength = filterHeight * filterWidth * inChannels;
  const filterShape = [filterHeight, filterWidth, inChannels, outChannels];
  const pointwise =
    filterHeight === 1 &&
    filterWidth === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.padInfo.top === 0 &&
    info.padInfo.left === 0;
  // Our SIMD kernel when it can run (see simd/kernels.c for why it beats XNNPACK here). Measured on the
  // SimCLR CNN's layers at batch 512, 2 threads (bench/fg-layers.ts): 28²×1→32 23 ms vs 96 for the best
  // XNNPACK arrangement, 14²×32→64 142 vs 224, 7²×64→128 169 vs 178. Otherwise, measured (GFLOP/s,
  // forward conv ~37): stride-1 3x3 convs 17-25 as one convolution vs 13-15 as a GEMM on patches; stride 2 (dy as a dilated filter leaves XNNPACK few output pixels) and
  // 1x1 filters are faster as GEMMs: 3x3/s2 17 with patches as weights, 1x1/s2 19 with transposed patches.
  const winograd = filterGradientMethod === 'auto' ? winogradKernels(backend, info) : undefined;
  if (winograd !== undefined) return conv2dFilterGradientWinograd(backend, winograd, x, dy, info);
  const kernels = filterGradientMethod === 'auto' || filterGradientMethod === 'simd' ? simdKernels(backend) : undefined;
  if (kernels !== undefined) return filterGradientSimd(backend, kernels, x, dy, info);
  if (filterGradientMethod === 'simd') {
    throw new SslError('backend', 'The SIMD filter-gradient kernel is not available on this wasm backend (setConv2dFilterGradientMethod)');
  }
  const method =
    filterGradientMethod !== 'auto'
      ? filterGradientMethod
      : filterHeight * filterWidth === 1 || inChannels < 8
        ? 'transposed-patches'
        : info.strideHeight === 1 && info.strideWidth === 1
          ? 'batch-as-channels'
          : 'patches-as-weights';
  if (method === 'batch-as-channels') return filterGradientAsConvolution(backend, x, dy, info);
  if (method === 'transposed-patches') return filterGradientFromTransposedPatches(backend, x, dy, info, pointwise);
  let patches: TensorInfo;
  if (pointwise) {
    patches = withShape(x, [rows, patchLength]); // a 1x1 stride-1 conv's patch matrix is x itself
  } else {
    patches = backend.makeOutput([rows, patchLength], 'float32');
    im2col(heapFloat32(backend), heapIndex(backend, x), heapIndex(backend, patches), info);
  }
  const ownedPatches = pointwise ? [] : [patches];
  const dyTransposed = transposeWasm(backend, withShape(dy, [rows, outChannels]), [1, 0]);
  const filterGradientTransposed = backend.makeOutput([outChannels, patchLength], 'float32');
  matMulInto(backend, dyTransposed, patches, filterGradientTransposed, outChannels, rows, patchLength);
  const filterGradient = transposeWasm(backend, filterGradientTransposed, [1, 0]);
  disposeIntermediates(backend, dyTransposed, filterGradientTransposed, ...ownedPatches);
  return withShape(filterGradient, filterShape);
}

/** dW by kernels.c's `conv2d_filter_gradient`, on the input zero-padded so that every window lies inside it. */
function filterGradientSimd(backend: WasmBackend, kernels: SimdKernels, x: TensorInfo, dy: TensorInfo, info: Conv2DInfo): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  // Rows and columns the windows reach: (O − 1)·s + (K − 1)·d + 1 in padded coordinates.
  const paddedHeight = Math.max(inHeight + padTop, (outHeight - 1) * strideHeight + (filterHeight - 1) * dilationHeight + 1);
  const paddedWidth = Math.max(inWidth + padLeft, (outWidth - 1) * strideWidth + (filterWidth - 1) * dilationWidth + 1);
  const needsPadding = padTop > 0 || padLeft > 0 || paddedHeight > inHeight || paddedWidth > inWidth;
  const padded = needsPadding ? backend.makeOutput([batchSize, paddedHeight, paddedWidth, inChannels], 'float32') : x;
  const patchLength = filterHeight * filterWidth * inChannels;
  // Per thread: row offsets of one block of output pixels, then the offsets of all patch columns.
  const scratchLength = FILTER_GRADIENT_ROWS_PER_CHUNK + patchLength;
  const scratch = backend.makeOutput([2 * scratchLength], 'int32');
  const filterGradient = backend.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32');
  if (needsPadding) {
    kernels.pad_spatial(
      heapOffset(backend, x),
      heapOffset(backend, padded),
      batchSize,
      inHeight,
      inWidth,
      inChannels,
      padTop,
      padLeft,
      paddedHeight,
      paddedWidth,
    );
  }
  const args = (thread: 0 | 1, mBegin: number, mEnd: number): number[] => {
    const rowBases = heapOffset(backend, scratch) + 4 * thread * scratchLength;
    return [
      heapOffset(backend, padded),
      heapOffset(backend, dy),
      heapOffset(backend, filterGradient),
      batchSize,
      paddedHeight,
      paddedWidth,
      inChannels,
      outHeight,
      outWidth,
      outChannels,
      filterHeight,
      filterWidth,
      strideHeight,
      strideWidth,
      dilationHeight,
      dilationWidth,
      rowBases,
      rowBases + 4 * FILTER_GRADIENT_ROWS_PER_CHUNK,
      mBegin,
      mEnd,
    ];
  };
  // Two threads take disjoint rows of dw (whole register tiles each), so no partial sums to add.
  const tiles = Math.ceil(patchLength / FILTER_GRADIENT_TILE_M);
  const split = Math.min(patchLength, Math.ceil(tiles / 2) * FILTER_GRADIENT_TILE_M);
  runOnTwoThreads(backend, kernels, 'conv2d_filter_gradient', args, split, patchLength, tiles > 1);
  disposeIntermediates(backend, scratch, ...(needsPadding ? [padded] : []));
  return filterGradient;
}

/**
 * dW = Σ over chunks of images of P_cᵀ·dy_c: each chunk's transposed patch matrix is built directly
 * (small when the input has few channels), and dy_c is a view of dy as it is, XNNPACK's packed weights.
 */
function filterGradientFromTransposedPatches(
  backend: WasmBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: Conv2DInfo,
  pointwise: boolean,
): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const patchLength = filterHeight * filterWidth * inChannels;
  const imagesPerChunk = Math.max(1, Math.min(batchSize, Math.round(filterGradientChunkRows / (outHeight * outWidth))));
  const filterGradient = backend.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32');
  const partial = imagesPerChunk < batchSize ? backend.makeOutput([patchLength, outChannels], 'float32') : undefined;
  const size = patchLength * outChannels;
  for (let first = 0; first < batchSize; first += imagesPerChunk) {
    const images = Math.min(imagesPerChunk, batchSize - first);
    const rows = images * outHeight * outWidth;
    const xChunk = makeView(backend, x, first * inHeight * inWidth * inChannels, [images, inHeight, inWidth, inChannels]);
    const dyChunk = makeView(backend, dy, first * outHeight * outWidth * outChannels, [rows, outChannels]);
    let patchesTransposed: TensorInfo;
    if (pointwise) {
      patchesTransposed = transposeWasm(backend, withShape(xChunk, [rows, patchLength]), [1, 0]);
    } else {
      patchesTransposed = backend.makeOutput([patchLength, rows], 'float32');
      im2colTransposed(heapFloat32(backend), heapIndex(backend, xChunk), heapIndex(backend, patchesTransposed), {
        ...info,
        batchSize: images,
      });
    }
    const target = first === 0 || partial === undefined ? filterGradient : partial;
    matMulInto(backend, patchesTransposed, dyChunk, target, patchLength, rows, outChannels);
    disposeIntermediates(backend, patchesTransposed);
    releaseView(backend, xChunk);
    releaseView(backend, dyChunk);
    if (target !== filterGradient) {
      const heap = heapFloat32(backend);
      const sum = heapIndex(backend, filterGradient);
      const add = heapIndex(backend, target);
      for (let i = 0; i < size; i++) heap[sum + i] += heap[add + i];
    }
  }
  if (partial !== undefined) disposeIntermediates(backend, partial);
  return filterGradient;
}

/**
 * dW as one XNNPACK convolution: dW[kh, kw, ci, co] = Σ_{oh, ow, b} xᵀ[ci, kh·d + oh·s − pt, kw·d + ow·s − pl, b] · dyᵀ[oh, ow, b, co],
 * i.e. the input with batch and channels swapped ([CI, H, W, B]) convolved with dy as the filter
 * ([OH, OW, B, CO]) at dilation s and stride d. The result [CI, KH', KW', CO] (KH' >= KH when
 * the forward conv left rows unused) is cropped and reordered to [KH, KW, CI, CO].
 */
function filterGradientAsConvolution(backend: WasmBackend, x: TensorInfo, dy: TensorInfo, info: Conv2DInfo): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const dyExtentHeight = (outHeight - 1) * strideHeight + 1;
  const dyExtentWidth = (outWidth - 1) * strideWidth + 1;
  const padBottom = Math.max(0, (filterHeight - 1) * dilationHeight + dyExtentHeight - inHeight - padTop);
  const padRight = Math.max(0, (filterWidth - 1) * dilationWidth + dyExtentWidth - inWidth - padLeft);
  const resultHeight = Math.floor((inHeight + padTop + padBottom - dyExtentHeight) / dilationHeight) + 1;
  const resultWidth = Math.floor((inWidth + padLeft + padRight - dyExtentWidth) / dilationWidth) + 1;

  // One convolution over the whole batch reduces over K = B·OH·OW (100k+) per output: XNNPACK streams
  // its packed filter (dy) from memory once per tile of output pixels. Chunks of the batch keep each
  // chunk's filter in cache; their results are summed. Measured on the SimCLR CNN (512×14×14×32→64):
  // one convolution 25 GFLOP/s, chunks of ~4k rows of K 2x that.
  const imagesPerChunk = Math.max(1, Math.min(batchSize, Math.round(filterGradientChunkRows / (outHeight * outWidth))));
  const resultShape = [inChannels, resultHeight, resultWidth, outChannels];
  const resultSize = tf.util.sizeFromShape(resultShape);
  const result = backend.makeOutput(resultShape, 'float32');
  const partial = imagesPerChunk < batchSize ? backend.makeOutput(resultShape, 'float32') : undefined;
  for (let first = 0; first < batchSize; first += imagesPerChunk) {
    const images = Math.min(imagesPerChunk, batchSize - first);
    const xChunk = makeView(backend, x, first * inHeight * inWidth * inChannels, [images, inHeight, inWidth, inChannels]);
    const dyChunk = makeView(backend, dy, first * outHeight * outWidth * outChannels, [images, outHeight, outWidth, outChannels]);
    const xSwapped = transposeWasm(backend, xChunk, [3, 1, 2, 0]);
    const dySwapped = transposeWasm(backend, dyChunk, [1, 2, 0, 3]);
    releaseView(backend, xChunk);
    releaseView(backend, dyChunk);
    const target = first === 0 || partial === undefined ? result : partial;
    conv2dFunction(backend)(
      wasmTensorId(backend, xSwapped),
      inChannels,
      inHeight,
      inWidth,
      wasmTensorId(backend, dySwapped),
      outHeight,
      outWidth,
      padTop,
      padRight,
      padBottom,
      padLeft,
      0,
      strideHeight,
      strideWidth,
      dilationHeight,
      dilationWidth,
      images,
      outChannels,
      wasmTensorId(backend, target),
    );
    disposeIntermediates(backend, xSwapped, dySwapped);
    if (target !== result) {
      const heap = heapFloat32(backend);
      const sum = heapIndex(backend, result);
      const add = heapIndex(backend, target);
      for (let i = 0; i < resultSize; i++) heap[sum + i] += heap[add + i];
    }
  }
  if (partial !== undefined) disposeIntermediates(backend, partial);
  const filterGradient = backend.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32');
  const heap = heapFloat32(backend);
  const source = heapIndex(backend, result);
  let target = heapIndex(backend, filterGradient);
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      for (let ci = 0; ci < inChannels; ci++) {
        const from = source + ((ci * resultHeight + kh) * resultWidth + kw) * outChannels;
        heap.copyWithin(target, from, from + outChannels);
        target += outChannels;
      }
    }
  }
  disposeIntermediates(backend, result);
  return filterGradient;
}

/** The filter rotated by 180° with in/out channels swapped: w'[kh, kw, co, ci] = w[KH−1−kh, KW−1−kw, ci, co]. */
function rotatedSwappedFilter(backend: WasmBackend, filter: TensorInfo, info: Conv2DInfo): TensorInfo {
  const { filterHeight, filterWidth, inChannels, outChannels } = info;
  const rotated = backend.makeOutput([filterHeight, filterWidth, outChannels, inChannels], 'float32');
  const heap = heapFloat32(backend);
  const source = heapIndex(backend, filter);
  const target = heapIndex(backend, rotated);
  const channelBlock = inChannels * outChannels;
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      const from = source + ((filterHeight - 1 - kh) * filterWidth + (filterWidth - 1 - kw)) * channelBlock;
      const to = target + (kh * filterWidth + kw) * channelBlock;
      for (let ci = 0; ci < inChannels; ci++) {
        for (let co = 0; co < outChannels; co++) heap[to + co * inChannels + ci] = heap[from + ci * outChannels + co];
      }
    }
  }
  return rotated;
}

type Conv2DFunction = (...args: number[]) => void;

function conv2dFunction(backend: WasmBackend): Conv2DFunction {
  return wasmFunction(backend, 'Conv2D', new Array(19).fill('number')) as Conv2DFunction;
}

export type InputGradientMethod = 'auto' | 'full-correlation' | 'col2im';
let inputGradientMethod: InputGradientMethod = 'auto';

/** For benchmarks and tests: force one input-gradient algorithm where it applies. */
export function setConv2dInputGradientMethod(method: InputGradientMethod): void {
  inputGradientMethod = method;
}

/** dx for a conv with the given geometry; the caller owns the result. */
export function conv2dInputGradient(backend: WasmBackend, dy: TensorInfo, filter: TensorInfo, info: Conv2DInfo): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { dilationHeight, dilationWidth } = info;
  // Padding of the full correlation: a window reaching (K−1)·d before the first row, minus the forward padding.
  const fullPadTop = (filterHeight - 1) * dilationHeight - info.padInfo.top;
  const fullPadLeft = (filterWidth - 1) * dilationWidth - info.padInfo.left;
  const fullPadBottom = inHeight - 1 - (outHeight - 1) - fullPadTop + (filterHeight - 1) * dilationHeight;
  const fullPadRight = inWidth - 1 - (outWidth - 1) - fullPadLeft + (filterWidth - 1) * dilationWidth;
  const fullCorrelationApplies =
    info.strideHeight === 1 && info.strideWidth === 1 && Math.min(fullPadTop, fullPadLeft, fullPadBottom, fullPadRight) >= 0;
  if (fullCorrelationApplies && inputGradientMethod !== 'col2im') {
    const rotated = rotatedSwappedFilter(backend, filter, info);
    const winograd = inputGradientMethod === 'auto' ? winogradKernels(backend, info) : undefined;
    if (winograd !== undefined) {
      const dx = conv2dInputGradientWinograd(backend, winograd, dy, rotated, info);
      disposeIntermediates(backend, rotated);
      return dx;
    }
    const dx = backend.makeOutput([batchSize, inHeight, inWidth, inChannels], 'float32');
    conv2dFunction(backend)(
      wasmTensorId(backend, dy),
      batchSize,
      outHeight,
      outWidth,
      wasmTensorId(backend, rotated),
      filterHeight,
      filterWidth,
      fullPadTop,
      fullPadRight,
      fullPadBottom,
      fullPadLeft,
      0,
      dilationHeight,
      dilationWidth,
      1,
      1,
      outChannels,
      inChannels,
      wasmTensorId(backend, dx),
    );
    disposeIntermediates(backend, rotated);
    return dx;
  }
  const rows = batchSize * outHeight * outWidth;
  const patchLength = filterHeight * filterWidth * inChannels;
  // dP = dy·Wᵀ through batchMatMulWasm: kernels.c's GEMM on both threads, reading W transposed in place, where the
  // helper thread runs (XNNPACK on one thread after an explicit transpose otherwise).
  const patchGradient = batchMatMulWasm(
    backend,
    withShape(dy, [rows, outChannels]),
    withShape(filter, [patchLength, outChannels]),
    false,
    true,
  );
  const dx = backend.makeOutput([batchSize, inHeight, inWidth, inChannels], 'float32');
  const kernels = simdKernels(backend);
  if (kernels === undefined) {
    col2im(heapFloat32(backend), heapIndex(backend, patchGradient), heapIndex(backend, dx), info);
  } else {
    // kernels.c's col2im (four lanes), the images split with the helper thread.
    const [dpAt, dxAt] = [heapOffset(backend, patchGradient), heapOffset(backend, dx)];
    const [dpImage, dxImage] = [4 * outHeight * outWidth * patchLength, 4 * inHeight * inWidth * inChannels];
    runOnTwoThreads(
      backend,
      kernels,
      'col2im',
      (_, first, last) => [
        dpAt + first * dpImage,
        dxAt + first * dxImage,
        last - first,
        inHeight,
        inWidth,
        inChannels,
        outHeight,
        outWidth,
        filterHeight,
        filterWidth,
        info.strideHeight,
        info.strideWidth,
        dilationHeight,
        dilationWidth,
        info.padInfo.top,
        info.padInfo.left,
      ],
      batchSize >> 1,
      batchSize,
      batchSize > 1 && rows * patchLength >= 1 << 17,
    );
  }
  disposeIntermediates(backend, patchGradient);
  return dx;
}

function conv2dBackpropFilterKernel(args: {
  inputs: Conv2DBackpropFilterInputs;
  backend: unknown;
  attrs: Conv2DBackpropFilterAttrs;
}): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs;
  const dilations = (args.attrs as { dilations?: number | [number, number] }).dilations ?? 1;
  const info = channelsLastConvInfo(x.shape, filterShape, strides, dilations, pad, dimRoundingMode, dataFormat);
  return conv2dFilterGradient(backend, x, dy, info);
}

function conv2dBackpropInputKernel(args: {
  inputs: Conv2DBackpropInputInputs;
  backend: unknown;
  attrs: Conv2DBackpropInputAttrs;
}): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs;
  const dilations = (args.attrs as { dilations?: number | [number, number] }).dilations ?? 1;
  const info = channelsLastConvInfo(inputShape, filter.shape, strides, dilations, pad, dimRoundingMode, dataFormat);
  return conv2dInputGradient(backend, dy, filter, info);
}

export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilterKernel as unknown as KernelFunc,
};

export const conv2dBackpropInputConfig: KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropInputKernel as unknown as KernelFunc,
};
