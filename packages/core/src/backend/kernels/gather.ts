import * as tf from '@tensorflow/tfjs-core';
import type { GatherV2Attrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

import { SslError, formatShape } from '../../errors';
import { asWasmBackend, copyWords, heapIndex, heapInt32, runWasmKernel } from './wasm-internals';

/**
 * tfjs-backend-wasm 4.22's GatherV2 reads out of bounds when batchDims > 0 and the batch is larger than
 * the number of gathered items per row (e.g. x [17, 256], indices [17, 1]: "memory access out of
 * bounds"), which breaks RandAugment's equalize and any per-sample gather; and with batchDims = 0 it
 * moves data element by element (gathering rows of image batches took ~30 ms of a 70 ms RandAugment on
 * 112 images of 28×28). Both are a copy loop over the heap here, one block copy per gathered item.
 */
const gatherV2: KernelFunc = ({ inputs, attrs, backend }) => {
  const wasm = asWasmBackend(backend);
  const { x, indices } = inputs as unknown as { x: TensorInfo; indices: TensorInfo };
  const { axis, batchDims = 0 } = attrs as unknown as GatherV2Attrs;

  const rank = x.shape.length;
  const gatherAxis = tf.util.parseAxisParam(axis, x.shape)[0];
  const batch = batchDims < 0 ? batchDims + indices.shape.length : batchDims;
  if (gatherAxis < batch || batch > indices.shape.length) {
    throw new SslError(
      'shape-mismatch',
      `gather: axis ${gatherAxis} must be ≥ batchDims ${batch} for x ${formatShape(x.shape)} and indices ${formatShape(indices.shape)}.`,
    );
  }
  for (let d = 0; d < batch; d++) {
    if (x.shape[d] !== indices.shape[d]) {
      throw new SslError(
        'shape-mismatch',
        `gather: x ${formatShape(x.shape)} and indices ${formatShape(indices.shape)} differ in batch dimension ${d}.`,
      );
    }
  }
  if ((x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32') {
    return runWasmKernel(wasm, 'GatherV2', { x, indices }, { axis, batchDims });
  }
  const prod = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
  const batchSize = prod(x.shape.slice(0, batch));
  const outerSize = prod(x.shape.slice(batch, gatherAxis));
  const axisSize = x.shape[gatherAxis];
  const innerSize = prod(x.shape.slice(gatherAxis + 1, rank));
  const indicesPerBatch = prod(indices.shape.slice(batch));
  const outShape = [...x.shape.slice(0, gatherAxis), ...indices.shape.slice(batch), ...x.shape.slice(gatherAxis + 1)];
  const out: TensorInfo = wasm.makeOutput(outShape, x.dtype);
  if (tf.util.sizeFromShape(outShape) === 0) return out;
  // Views after makeOutput: allocating may grow (and move) the heap. float32 and int32 are copied as bits.
  const heap = heapInt32(wasm);
  const xBase = heapIndex(wasm, x);
  const indexBase = heapIndex(wasm, indices);
  const outBase = heapIndex(wasm, out);
  let o = outBase;
  for (let b = 0; b < batchSize; b++) {
    for (let outer = 0; outer < outerSize; outer++) {
      const sliceBase = xBase + (b * outerSize + outer) * axisSize * innerSize;
      for (let j = 0; j < indicesPerBatch; j++) {
        const index = heap[indexBase + b * indicesPerBatch + j];
        if (index < 0 || index >= axisSize) {
          wasm.disposeData(out.dataId);
          throw new SslError('shape-mismatch', `gather: index ${index} is out of range [0, ${axisSize}) for x ${formatShape(x.shape)}.`);
        }
        const from = sliceBase + index * innerSize;
        copyWords(heap, o, from, innerSize);
        o += innerSize;
      }
    }
  }
  return out;
};

export const gatherV2Config: KernelConfig = { kernelName: 'GatherV2', backendName: 'wasm', kernelFunc: gatherV2 };
