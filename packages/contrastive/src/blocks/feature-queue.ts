import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Variable } from '@tensorflow/tfjs-core';
import { SslError, formatShape, l2Normalize, requirePositiveInteger, requireRank } from '@ssl/core';

/**
 * A first-in-first-out queue of feature vectors kept as method state (MoCo's queue of negative keys,
 * NNCLR's support set): `features` [K, D] and `pointer`, the row the next enqueue writes first. Both are
 * variables, so checkpoints save them and `--resume` restores them exactly.
 */
export interface FeatureQueue {
  /** [K, D]: the queued vectors; row `pointer − 1` (mod K) is the newest. */
  readonly features: Variable;
  /** int32 [1]: where the next batch goes. */
  readonly pointer: Variable;
}

export interface FeatureQueueOptions {
  /** K, rows kept (MoCo: 65536; NNCLR: 98304). */
  readonly size: number;
  /** D, the feature width. */
  readonly dim: number;
  /** Seed of the initial contents. */
  readonly seed: number;
}

/**
 * A queue filled with random unit vectors, as the reference code starts (MoCo: `randn` normalized along the
 * feature axis): the first K/N steps see these as negatives until real keys replace them.
 */
export function createFeatureQueue(options: FeatureQueueOptions): FeatureQueue {
  requirePositiveInteger('queue size', options.size);
  requirePositiveInteger('queue dim', options.dim);
  const initial = tf.tidy(() => l2Normalize(tf.randomNormal([options.size, options.dim], 0, 1, 'float32', options.seed)));
  const features = tf.variable(initial, false);
  const start = tf.zeros([1], 'int32');
  const pointer = tf.variable(start, false);
  tf.dispose([initial, start]);
  return { features, pointer };
}

/**
 * The queue after writing `batch` [N, D] (N ≤ K) at the pointer, wrapping around, and the new pointer
 * (pointer + N) mod K: MoCo's `_dequeue_and_enqueue`, where the oldest N rows are replaced. Pure; computed on
 * the device (no read of the pointer), by gathering each row from either the old queue or the batch, so the
 * rows are copied exactly.
 */
export function enqueuedFeatures(features: Tensor2D, pointer: Tensor1D, batch: Tensor2D): { features: Tensor2D; pointer: Tensor1D } {
  requireRank('queue', features, 2, '[K, D]');
  requireRank('batch', batch, 2, '[N, D]');
  const [size, dim] = features.shape;
  const rows = batch.shape[0];
  if (batch.shape[1] !== dim || rows > size) {
    throw new SslError(
      'shape-mismatch',
      `cannot enqueue ${formatShape(batch.shape)} into a queue ${formatShape(features.shape)}: the batch needs D = ${dim} and at most K = ${size} rows (make the queue larger than the batch).`,
    );
  }
  return tf.tidy(() => {
    // Integer scalars: adding a JS number would promote the indices to float32.
    const sizeScalar = tf.scalar(size, 'int32');
    const position = tf.range(0, size, 1, 'int32');
    // Offset of queue row j from the pointer; rows with offset < N receive batch row `offset`.
    const offset = tf.mod(tf.add(tf.sub(position, pointer), sizeScalar), sizeScalar);
    const written = tf.less(offset, tf.scalar(rows, 'int32'));
    const source = tf.where(written, tf.add(offset, sizeScalar), position);
    const next = tf.gather(tf.concat([features, batch], 0), source) as Tensor2D;
    const nextPointer = tf.mod(tf.add(pointer, tf.scalar(rows, 'int32')), sizeScalar) as Tensor1D;
    return { features: next, pointer: nextPointer };
  });
}

/** Enqueues `batch` into `queue` in place (call from `afterStep`, with the keys the step carried). */
export function enqueueFeatures(queue: FeatureQueue, batch: Tensor2D): void {
  tf.tidy(() => {
    const next = enqueuedFeatures(queue.features as unknown as Tensor2D, queue.pointer as unknown as Tensor1D, batch);
    queue.features.assign(next.features);
    queue.pointer.assign(next.pointer);
  });
}
