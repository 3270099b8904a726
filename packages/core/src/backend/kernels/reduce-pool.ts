import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, MaxPoolGradAttrs, SumAttrs, TensorInfo } from '@tensorflow/tfjs-core';

import { runOnTwoThreads, simdKernels } from './simd/simd-kernels';
import { asWasmBackend, disposeIntermediates, heapFloat32, heapIndex, heapOffset, runWasmKernel } from './wasm-internals';

/*
 * Two kernels of every CNN training step that tfjs-backend-wasm 4.22 runs far below memory speed:
 *
 * - Sum/Mean over the leading axes of channels-last data (batch norm's statistics and its gradient,
 *   bias gradients): wasm transposes the whole tensor so the reduced axes come last, then reduces
 *   (~50 ms for a 12.8M-element activation). Summing rows of the [rows, channels] matrix in place
 *   reads it once (~15 ms in JS on a fast day; kernels.c's sum_rows does it with SIMD).
 * - MaxPoolGrad: wasm's C++ recomputes, for every input pixel, the maxima of every window covering it.
 *   Here each window finds its argmax once and adds its dy there (the first maximum in row-major window
 *   order, as the cpu backend), one read of x and one scatter.
 */

/** Axes [0, k) with 0 < k < rank: a reduction over the leading axes, i.e. over the rows of [rows, trailing]. */
function leadingAxesCount(axes: number[], rank: number): number {
  const sorted = [...axes].sort((a, b) => a - b);
  const isPrefix = sorted.every((axis, i) => axis === i);
  return isPrefix && sorted.length > 0 && sorted.length < rank ? sorted.length : 0;
}

function reduceLeadingAxes(kernelName: 'Sum' | 'Mean'): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const wasm = asWasmBackend(backend);
    const { x } = inputs as unknown as { x: TensorInfo };
    const { axis, keepDims } = attrs as unknown as SumAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const leading = leadingAxesCount(axes, x.shape.length);
    if (x.dtype !== 'float32' || leading === 0) return runWasmKernel(wasm, kernelName, { x }, attrs);
    const trailingShape = x.shape.slice(leading);
    const rows = x.shape.slice(0, leading).reduce((a, b) => a * b, 1);
    const width = tf.util.sizeFromShape(trailingShape);
    const outShape = keepDims ? [...x.shape.slice(0, leading).map(() => 1), ...trailingShape] : trailingShape;
    const out = wasm.makeOutput(outShape, 'float32');
    const kernels = simdKernels(wasm);
    if (kernels !== undefined) {
      const totals = wasm.makeOutput([2 * width], 'float32'); // `width` float64 accumulators
      kernels.sum_rows(heapOffset(wasm, x), heapOffset(wasm, out), rows, width, heapOffset(wasm, totals));
      disposeIntermediates(wasm, totals);
      if (kernelName === 'Mean') {
        const heap = heapFloat32(wasm);
        const target = heapIndex(wasm, out);
        for (let c = 0; c < width; c++) heap[target + c] /= rows;
      }
      return out;
    }
    const heap = heapFloat32(wasm);
    const source = heapIndex(wasm, x);
    const target = heapIndex(wasm, out);
    // Double accumulators: float32 running sums over hundreds of thousands of rows drift visibly.
    const totals = new Float64Array(width);
    for (let row = 0, offset = source; row < rows; row++, offset += width) {
      for (let c = 0; c < width; c++) totals[c] += heap[offset + c];
    }
    const scale = kernelName === 'Mean' ? 1 / rows : 1;
    for (let c = 0; c < width; c++) heap[target + c] = totals[c] * scale;
    return out;
  };
}

const maxPoolGrad: KernelFunc = ({ inputs, attrs, backend }) => {
  const wasm = asWasmBackend(backend);
  const { dy, input } = inputs as unknown as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { effectiveFilterHeight: windowHeight, effectiveFilterWidth: windowWidth, dilationHeight, dilationWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const dx = wasm.makeOutput(input.shape, 'float32');
  // 2x2/2 windows inside the image ('same' on an odd size hangs the last window over the edge).
  const tiled =
    windowHeight === 2 &&
    windowWidth === 2 &&
    strideHeight === 2 &&
    strideWidth === 2 &&
    padTop === 0 &&
    padLeft === 0 &&
    2 * outHeight <= inHeight &&
    2 * outWidth <= inWidth;
  const kernels = tiled ? simdKernels(wasm) : undefined;
  if (kernels !== undefined) {
    // Images are independent: the helper thread takes the second half of the batch.
    const [xAt, dyAt, dxAt] = [heapOffset(wasm, input), heapOffset(wasm, dy), heapOffset(wasm, dx)];
    const [inImage, outImage] = [4 * inHeight * inWidth * channels, 4 * outHeight * outWidth * channels];
    runOnTwoThreads(
      wasm,
      kernels,
      'max_pool_2x2_gradient',
      (_, first, last) => [
        xAt + first * inImage,
        dyAt + first * outImage,
        dxAt + first * inImage,
        last - first,
        inHeight,
        inWidth,
        channels,
        outHeight,
        outWidth,
      ],
      batchSize >> 1,
      batchSize,
      batchSize > 1 && batchSize * inImage >= 1 << 18,
    );
    return dx;
  }
  const heap = heapFloat32(wasm);
  const xStart = heapIndex(wasm, input);
  const dyStart = heapIndex(wasm, dy);
  const dxStart = heapIndex(wasm, dx);
  heap.fill(0, dxStart, dxStart + tf.util.sizeFromShape(input.shape));
  if (tiled) {
    // The common 2x2/2 'valid' pool: windows tile the image, one pass with no per-window bookkeeping.
    const rowStride = inWidth * channels;
    for (let b = 0; b < batchSize; b++) {
      for (let oh = 0; oh < outHeight; oh++) {
        let gradient = dyStart + (b * outHeight + oh) * outWidth * channels;
        for (let ow = 0; ow < outWidth; ow++) {
          const topLeft = ((b * inHeight + 2 * oh) * inWidth + 2 * ow) * channels;
          for (let c = 0; c < channels; c++, gradient++) {
            const p00 = topLeft + c;
            const p01 = p00 + channels;
            const p10 = p00 + rowStride;
            const p11 = p10 + channels;
            // As the general loop: strictly greater than the best so far, starting from −∞.
            let at = -1;
            let value = Number.NEGATIVE_INFINITY;
            if (heap[xStart + p00] > value) {
              at = p00;
              value = heap[xStart + p00];
            }
            if (heap[xStart + p01] > value) {
              at = p01;
              value = heap[xStart + p01];
            }
            if (heap[xStart + p10] > value) {
              at = p10;
              value = heap[xStart + p10];
            }
            if (heap[xStart + p11] > value) at = p11;
            if (at >= 0) heap[dxStart + at] = heap[gradient];
          }
        }
      }
    }
    return dx;
  }
  const best = new Float32Array(channels);
  const bestAt = new Int32Array(channels);
  for (let b = 0; b < batchSize; b++) {
    const image = b * inHeight * inWidth * channels;
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        best.fill(Number.NEGATIVE_INFINITY);
        bestAt.fill(-1);
        for (let kh = 0; kh < windowHeight; kh += dilationHeight) {
          const ih = oh * strideHeight - padTop + kh;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < windowWidth; kw += dilationWidth) {
            const iw = ow * strideWidth - padLeft + kw;
            if (iw < 0 || iw >= inWidth) continue;
            const pixel = image + (ih * inWidth + iw) * channels;
            for (let c = 0; c < channels; c++) {
              const value = heap[xStart + pixel + c];
              // Strictly greater: the first maximum in window order takes the gradient, as on cpu (NaN never does).
              if (value > best[c]) {
                best[c] = value;
                bestAt[c] = pixel + c;
              }
            }
          }
        }
        const gradient = dyStart + ((b * outHeight + oh) * outWidth + ow) * channels;
        for (let c = 0; c < channels; c++) {
          if (bestAt[c] >= 0) heap[dxStart + bestAt[c]] += heap[gradient + c];
        }
      }
    }
  }
  return dx;
};

export const sumConfig: KernelConfig = { kernelName: 'Sum', backendName: 'wasm', kernelFunc: reduceLeadingAxes('Sum') };
export const meanConfig: KernelConfig = { kernelName: 'Mean', backendName: 'wasm', kernelFunc: reduceLeadingAxes('Mean') };
export const maxPoolGradConfig: KernelConfig = { kernelName: 'MaxPoolGrad', backendName: 'wasm', kernelFunc: maxPoolGrad };
