/**
 * UnsortedSegmentSum on the wasm backend, which lacks it. It is the gradient of gather (tf.gather's
 * gradient scatters dy rows back to the gathered indices), so embedding tables cannot train without
 * it: out[s, ...] = Σ_{i : segmentIds[i] = s} x[i, ...], ids outside [0, numSegments) are dropped
 * (as TensorFlow does).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo, UnsortedSegmentSumAttrs, UnsortedSegmentSumInputs } from '@tensorflow/tfjs-core';

import { SslError } from '../../errors';
import { asWasmBackend, heapFloat32, heapIndex, heapInt32, type WasmBackend } from './wasm-internals';

export function unsortedSegmentSumWasm(backend: WasmBackend, x: TensorInfo, segmentIds: TensorInfo, numSegments: number): TensorInfo {
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new SslError('dtype-mismatch', `UnsortedSegmentSum on wasm supports float32 and int32 values, got ${x.dtype}.`);
  }
  if (segmentIds.dtype !== 'int32') {
    throw new SslError('dtype-mismatch', `UnsortedSegmentSum segment ids must be int32, got ${segmentIds.dtype}.`);
  }
  const idRank = segmentIds.shape.length;
  if (!tf.util.arraysEqual(x.shape.slice(0, idRank), segmentIds.shape)) {
    throw new SslError(
      'shape-mismatch',
      `UnsortedSegmentSum: segment ids of shape [${segmentIds.shape}] must be a prefix of x's shape [${x.shape}].`,
    );
  }
  const rowLength = tf.util.sizeFromShape(x.shape.slice(idRank));
  const idCount = tf.util.sizeFromShape(segmentIds.shape);
  const out = backend.makeOutput([numSegments, ...x.shape.slice(idRank)], x.dtype);
  const values = x.dtype === 'float32' ? heapFloat32(backend) : heapInt32(backend);
  const ids = heapInt32(backend);
  const idsStart = heapIndex(backend, segmentIds);
  const xStart = heapIndex(backend, x);
  const outStart = heapIndex(backend, out);
  values.fill(0, outStart, outStart + numSegments * rowLength);
  for (let i = 0; i < idCount; i++) {
    const segment = ids[idsStart + i];
    if (segment < 0 || segment >= numSegments) continue;
    const source = xStart + i * rowLength;
    const target = outStart + segment * rowLength;
    for (let j = 0; j < rowLength; j++) values[target + j] += values[source + j];
  }
  return out;
}

function unsortedSegmentSumKernel(args: {
  inputs: UnsortedSegmentSumInputs;
  backend: unknown;
  attrs: UnsortedSegmentSumAttrs;
}): TensorInfo {
  const backend = asWasmBackend(args.backend);
  const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
  return unsortedSegmentSumWasm(backend, x, segmentIds, args.attrs.numSegments);
}

export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSumKernel as unknown as KernelFunc,
};
