/**
 * Gradients of depthwise 2-D convolution on the wasm backend (the backend has neither).
 *
 * Forward, with channel multiplier M and filter [KH, KW, C, M]:
 *   y[b, oh, ow, c·M + m] = Σ_{kh, kw} x[b, oh·s + kh·d − pt, ow·s + kw·d − pl, c] · w[kh, kw, c, m]
 * so, summing over every (b, oh, ow, kh, kw) whose input position is inside x,
 *   dW[kh, kw, c, m] += x[b, ih, iw, c] · dy[b, oh, ow, c·M + m]
 *   dx[b, ih, iw, c] += dy[b, oh, ow, c·M + m] · w[kh, kw, c, m].
 * Depthwise convolutions do ~KH·KW·M multiply-adds per input element, too little for a GEMM to pay
 * off, so these are direct loops over the wasm heap with the channel axis innermost (contiguous).
 */
import * as tf from '@tensorflow/tfjs-core';
import type {
  DepthwiseConv2dNativeBackpropFilterAttrs,
  DepthwiseConv2dNativeBackpropFilterInputs,
  DepthwiseConv2dNativeBackpropInputAttrs,
  DepthwiseConv2dNativeBackpropInputInputs,
  KernelConfig,
  KernelFunc,
  TensorInfo,
} from '@tensorflow/tfjs-core';

import { asWasmBackend, heapFloat32, heapIndex, type WasmBackend } from './wasm-internals';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

function depthwiseInfo(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: DepthwiseConv2dNativeBackpropFilterAttrs['pad'],
  dimRoundingMode: DepthwiseConv2dNativeBackpropFilterAttrs['dimRoundingMode'],
): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
    dimRoundingMode,
    true,
  );
}

/**
 * Calls `visit(xPixel, dyPixel, filterTap)` (heap indices of the channel-0 element) for every window
 * tap that lands inside x; shared by both gradients so their index arithmetic cannot diverge.
 */
function forEachTap(
  info: Conv2DInfo,
  x: number,
  dy: number,
  filter: number,
  visit: (xPixel: number, dyPixel: number, filterTap: number) => void,
): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const dyPixel = dy + ((b * outHeight + oh) * outWidth + ow) * outChannels;
        for (let kh = 0; kh < filterHeight; kh++) {
          const ih = oh * strideHeight - padTop + kh * dilationHeight;
          if (ih < 0 || ih >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const iw = ow * strideWidth - padLeft + kw * dilationWidth;
            if (iw < 0 || iw >= inWidth) continue;
            visit(x + ((b * inHeight + ih) * inWidth + iw) * inChannels, dyPixel, filter + (kh * filterWidth + kw) * outChannels);
          }
        }
      }
    }
  }
}

export function depthwiseFilterGradient(backend: WasmBackend, x: TensorInfo, dy: TensorInfo, info: Conv2DInfo): TensorInfo {
  const { filterHeight, filterWidth, inChannels, outChannels } = info;
  const multiplier = outChannels / inChannels;
  const dw = backend.makeOutput([filterHeight, filterWidth, inChannels, multiplier], 'float32');
  const heap = heapFloat32(backend);
  const dwStart = heapIndex(backend, dw);
  heap.fill(0, dwStart, dwStart + filterHeight * filterWidth * outChannels);
  forEachTap(info, heapIndex(backend, x), heapIndex(backend, dy), dwStart, (xPixel, dyPixel, filterTap) => {
    for (let c = 0; c < inChannels; c++) {
      const xValue = heap[xPixel + c];
      const base = c * multiplier;
      for (let m = 0; m < multiplier; m++) heap[filterTap + base + m] += xValue * heap[dyPixel + base + m];
    }
  });
  return dw;
}

export function depthwiseInputGradient(backend: WasmBackend, dy: TensorInfo, filter: TensorInfo, info: Conv2DInfo): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outChannels } = info;
  const multiplier = outChannels / inChannels;
  const dx = backend.makeOutput([batchSize, inHeight, inWidth, inChannels], 'float32');
  const heap = heapFloat32(backend);
  const dxStart = heapIndex(backend, dx);
  heap.fill(0, dxStart, dxStart + batchSize * inHeight * inWidth * inChannels);
  forEachTap(info, dxStart, heapIndex(backend, dy), heapIndex(backend, filter), (dxPixel, dyPixel, filterTap) => {
    for (let c = 0; c < inChannels; c++) {
      const base = c * multiplier;
      let sum = 0;
      for (let m = 0; m < multiplier; m++) sum += heap[dyPixel + base + m] * heap[filterTap + base + m];
      heap[dxPixel + c] += sum;
    }
  });
  return dx;
}

function filterKernel(args: {
  inputs: DepthwiseConv2dNativeBackpropFilterInputs;
  backend: unknown;
  attrs: DepthwiseConv2dNativeBackpropFilterAttrs;
}): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, filterShape } = args.attrs;
  return depthwiseFilterGradient(backend, x, dy, depthwiseInfo(x.shape, filterShape, strides, dilations, pad, dimRoundingMode));
}

function inputKernel(args: {
  inputs: DepthwiseConv2dNativeBackpropInputInputs;
  backend: unknown;
  attrs: DepthwiseConv2dNativeBackpropInputAttrs;
}): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, inputShape } = args.attrs;
  return depthwiseInputGradient(backend, dy, filter, depthwiseInfo(inputShape, filter.shape, strides, dilations, pad, dimRoundingMode));
}

export const depthwiseConv2dBackpropFilterConfig: KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: filterKernel as unknown as KernelFunc,
};

export const depthwiseConv2dBackpropInputConfig: KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: inputKernel as unknown as KernelFunc,
};
