import * as tf from '@tensorflow/tfjs-core';
import { SslError, formatShape } from '../errors';

/** A per-image scalar as a [N, 1, 1, 1] tensor, for broadcasting against NHWC images. */
export function perImage(values: ArrayLike<number>): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(values), [values.length, 1, 1, 1]);
}

export function checkImages(images: tf.Tensor, where: string): asserts images is tf.Tensor4D {
  if (images.rank !== 4) {
    throw new SslError('shape-mismatch', `${where}: expected NHWC images of rank 4, got shape ${formatShape(images.shape)}.`);
  }
  const channels = images.shape[3];
  if (channels !== 1 && channels !== 3) {
    throw new SslError('shape-mismatch', `${where}: images must have 1 or 3 channels, got ${formatShape(images.shape)}.`);
  }
}

export function checkProbability(p: number, where: string): void {
  if (!(p >= 0 && p <= 1)) throw new SslError('invalid-config', `${where}: probability p must lie in [0, 1], got ${p}.`);
}

export function checkRange(range: readonly [number, number], where: string, field: string, min = -Infinity): void {
  if (!Array.isArray(range) || range.length !== 2 || !(range[0] <= range[1]) || !(range[0] >= min)) {
    throw new SslError(
      'invalid-config',
      `${where}: ${field} must be [low, high] with ${min === -Infinity ? '' : `${min} <= `}low <= high, got ${JSON.stringify(range)}.`,
    );
  }
}

/** x where mask is 0, y where mask is 1 (mask [N,1,1,1] of 0/1); exact for finite values. */
export function selectPerImage(mask: tf.Tensor4D, y: tf.Tensor4D, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.add(tf.mul(mask, y), tf.mul(tf.sub(1, mask), x)) as tf.Tensor4D);
}

/** ITU-R 601 luma, [N,H,W,1] (the gray PIL and torchvision use); a 1-channel input is returned as is (cloned). */
export function luma(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    if (images.shape[3] === 1) return images.clone();
    const weights = tf.tensor1d([0.299, 0.587, 0.114]);
    return tf.sum(tf.mul(images, weights), 3, true) as tf.Tensor4D;
  });
}
