import * as tf from '@tensorflow/tfjs-core';
import { SslError } from '../errors';
import { Random } from '../random';
import type { ImageDataset } from './dataset';

/** One batch on the device: images float32 in [0, 1] (NHWC), labels int32 when the dataset has them. */
export interface TensorBatch {
  images: tf.Tensor4D;
  labels?: tf.Tensor1D;
  /** Dataset indices of the rows, in order. */
  indices: Int32Array;
}

/** One batch still on the host, as gathered from the dataset bytes. */
export interface HostBatch {
  images: Uint8Array;
  labels?: Int32Array;
  indices: Int32Array;
}

/**
 * The visiting order of epoch `epoch`: a permutation of 0..size-1 that depends only on (seed, epoch),
 * so a resumed run can recompute the order of any epoch without replaying the ones before it.
 */
export function epochOrder(size: number, seed: number, epoch: number): Int32Array {
  if (!Number.isInteger(size) || size < 0) throw new SslError('invalid-config', `epochOrder: size must be a non-negative integer, got ${size}.`);
  if (!Number.isInteger(epoch) || epoch < 0) throw new SslError('invalid-config', `epochOrder: epoch must be a non-negative integer, got ${epoch}.`);
  return new Random(mixSeed(seed, epoch)).permutation(size);
}

/** Number of batches in an epoch: floor(size/batchSize) when dropping the last partial batch, ceil otherwise. */
export function batchesPerEpoch(size: number, batchSize: number, dropLast: boolean): number {
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new SslError('invalid-config', `batchSize must be a positive integer, got ${batchSize}.`);
  return dropLast ? Math.floor(size / batchSize) : Math.ceil(size / batchSize);
}

/** Copies the images (and labels) at `indices` into fresh host arrays. */
export function gatherHostBatch(dataset: ImageDataset, indices: Int32Array): HostBatch {
  const [h, w, c] = dataset.shape;
  const imageSize = h * w * c;
  const images = new Uint8Array(indices.length * imageSize);
  const labels = dataset.labels ? new Int32Array(indices.length) : undefined;
  for (let k = 0; k < indices.length; k++) {
    const index = indices[k];
    if (index < 0 || index >= dataset.size) throw new SslError('data', `gatherBatch(${dataset.name}): index ${index} is outside 0..${dataset.size - 1}.`);
    images.set(dataset.images.subarray(index * imageSize, (index + 1) * imageSize), k * imageSize);
    if (labels) labels[k] = dataset.labels![index];
  }
  return { images, labels, indices };
}

/** Uploads a host batch: bytes become float32 in [0, 1]. */
export function hostBatchToTensors(batch: HostBatch, shape: readonly [number, number, number]): TensorBatch {
  const floats = new Float32Array(batch.images.length);
  const scale = 1 / 255;
  for (let i = 0; i < floats.length; i++) floats[i] = batch.images[i] * scale;
  const images = tf.tensor4d(floats, [batch.indices.length, shape[0], shape[1], shape[2]], 'float32');
  const labels = batch.labels ? tf.tensor1d(batch.labels, 'int32') : undefined;
  return { images, labels, indices: batch.indices };
}

/** The images (float32 0..1) and labels at `indices`; the caller disposes the tensors. */
export function gatherBatch(dataset: ImageDataset, indices: Int32Array | number[]): TensorBatch {
  return hostBatchToTensors(gatherHostBatch(dataset, Int32Array.from(indices)), dataset.shape);
}

export interface BatchLoaderOptions {
  batchSize: number;
  seed: number;
  /** Visit images in a seeded random order per epoch (default) or in dataset order. */
  shuffle?: boolean;
  /** Skip the last partial batch (default true: contrastive losses want full batches). */
  dropLast?: boolean;
}

/**
 * Batches of a dataset whose content is a pure function of (seed, epoch, batchIndex): batch b of
 * epoch e holds epochOrder(size, seed, e)[b*batchSize .. (b+1)*batchSize). A trainer resuming from a
 * checkpoint at (e, b) gets exactly the batches the uninterrupted run would have seen.
 */
export class BatchLoader {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly batchesPerEpoch: number;
  private cachedEpoch = -1;
  private cachedOrder: Int32Array = new Int32Array(0);

  constructor(dataset: ImageDataset, options: BatchLoaderOptions) {
    this.dataset = dataset;
    this.batchSize = options.batchSize;
    this.seed = options.seed;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? true;
    if (dataset.size === 0) throw new SslError('data', `BatchLoader(${dataset.name}): the dataset is empty.`);
    this.batchesPerEpoch = batchesPerEpoch(dataset.size, this.batchSize, this.dropLast);
    if (this.batchesPerEpoch === 0) {
      throw new SslError('data', `BatchLoader(${dataset.name}): batchSize ${this.batchSize} exceeds the ${dataset.size} images and dropLast is set, so an epoch has no batch; lower batchSize or pass dropLast: false.`, {
        details: { batchSize: this.batchSize, size: dataset.size },
      });
    }
  }

  /** Dataset indices of batch `batchIndex` of epoch `epoch`. */
  batchIndices(epoch: number, batchIndex: number): Int32Array {
    if (!Number.isInteger(batchIndex) || batchIndex < 0 || batchIndex >= this.batchesPerEpoch) {
      throw new SslError('invalid-config', `BatchLoader(${this.dataset.name}): batchIndex ${batchIndex} is outside 0..${this.batchesPerEpoch - 1}.`);
    }
    const order = this.order(epoch);
    return order.slice(batchIndex * this.batchSize, Math.min(order.length, (batchIndex + 1) * this.batchSize));
  }

  /** Batch `batchIndex` of epoch `epoch` as tensors (caller disposes). */
  batch(epoch: number, batchIndex: number): TensorBatch {
    return hostBatchToTensors(gatherHostBatch(this.dataset, this.batchIndices(epoch, batchIndex)), this.dataset.shape);
  }

  /**
   * Iterates the batches of `epoch` from `startBatch`. Prefetch: while the consumer works on batch b,
   * the host-side gather of batch b+1 (byte copy and label copy) is scheduled with setImmediate, so it
   * runs whenever the consumer's step awaits (e.g. reading a loss); the upload to the device happens
   * when the batch is handed out. Tensors of a yielded batch belong to the consumer.
   */
  async *epoch(epoch: number, startBatch = 0): AsyncGenerator<TensorBatch, void, undefined> {
    if (startBatch >= this.batchesPerEpoch) return;
    let pending = this.prefetch(epoch, startBatch);
    for (let b = startBatch; b < this.batchesPerEpoch; b++) {
      const host = await pending;
      if (b + 1 < this.batchesPerEpoch) pending = this.prefetch(epoch, b + 1);
      yield hostBatchToTensors(host, this.dataset.shape);
    }
  }

  private prefetch(epoch: number, batchIndex: number): Promise<HostBatch> {
    return new Promise((resolvePromise, reject) => {
      setImmediate(() => {
        try {
          resolvePromise(gatherHostBatch(this.dataset, this.batchIndices(epoch, batchIndex)));
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  private order(epoch: number): Int32Array {
    if (epoch !== this.cachedEpoch) {
      this.cachedOrder = this.shuffle ? epochOrder(this.dataset.size, this.seed, epoch) : identityOrder(this.dataset.size);
      this.cachedEpoch = epoch;
    }
    return this.cachedOrder;
  }
}

function identityOrder(size: number): Int32Array {
  const order = new Int32Array(size);
  for (let i = 0; i < size; i++) order[i] = i;
  return order;
}

/** Hashes (seed, epoch) into one 32-bit seed (murmur3 finaliser), so neighbouring epochs get unrelated streams. */
function mixSeed(seed: number, epoch: number): number {
  let h = (seed >>> 0) ^ Math.imul(epoch + 1, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
