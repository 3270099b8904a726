import * as tf from '@tensorflow/tfjs-core';
import type { Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, formatValue, requireRank } from '@ssl/core';

/**
 * Cuts NHWC images into non-overlapping p×p patches, flattened: [N, H, W, C] → [N, L, p·p·C] with
 * L = (H/p)·(W/p). The order is the MAE reference `patchify` (einsum 'nchpwq->nhwpqc'): patches row-major
 * over the grid, and inside a patch pixel row, then pixel column, channel fastest, i.e.
 * out[n, i·(W/p) + j, (u·p + v)·C + c] = images[n, i·p + u, j·p + v, c].
 *
 * @param images [N, H, W, C] with H and W divisible by `patchSize`.
 * @param patchSize p, the patch side in pixels.
 */
export function patchify(images: Tensor4D, patchSize: number): Tensor3D {
  requireRank('images', images, 4, '[N, H, W, C]');
  requirePatchSize(patchSize);
  const [batch, height, width, channels] = images.shape;
  requireDivisible(height, width, patchSize, `images ${formatShape(images.shape)}`);
  const rows = height / patchSize;
  const columns = width / patchSize;
  return tf.tidy(() => {
    const grid = tf.reshape(images, [batch, rows, patchSize, columns, patchSize, channels]);
    // [n, i, u, j, v, c] → [n, i, j, u, v, c]
    const patches = tf.transpose(grid, [0, 1, 3, 2, 4, 5]);
    return tf.reshape(patches, [batch, rows * columns, patchSize * patchSize * channels]) as Tensor3D;
  });
}

/**
 * Exact inverse of `patchify`: [N, L, p·p·C] → [N, H, W, C] (MAE's `unpatchify`, for NHWC).
 *
 * @param patches [N, (H/p)·(W/p), p·p·C].
 * @param patchSize p.
 * @param imageShape [H, W, C] of the images the patches came from.
 */
export function unpatchify(patches: Tensor3D, patchSize: number, imageShape: readonly [number, number, number]): Tensor4D {
  requireRank('patches', patches, 3, '[N, L, p·p·C]');
  requirePatchSize(patchSize);
  if (!Array.isArray(imageShape) || imageShape.length !== 3 || imageShape.some((size) => !Number.isInteger(size) || size < 1)) {
    throw new SslError(
      'invalid-config',
      `imageShape must be [height, width, channels] of positive integers, got ${formatValue(imageShape)}.`,
      {
        details: { field: 'imageShape', value: imageShape },
      },
    );
  }
  const [height, width, channels] = imageShape;
  requireDivisible(height, width, patchSize, `imageShape ${formatShape(imageShape)}`);
  const rows = height / patchSize;
  const columns = width / patchSize;
  const [batch, numPatches, patchLength] = patches.shape;
  if (numPatches !== rows * columns || patchLength !== patchSize * patchSize * channels) {
    throw new SslError(
      'shape-mismatch',
      `patches ${formatShape(patches.shape)} do not fit images ${formatShape(imageShape)} with patchSize ${patchSize}: ` +
        `expected [N, ${rows * columns}, ${patchSize * patchSize * channels}].`,
      { details: { patches: patches.shape, imageShape, patchSize } },
    );
  }
  return tf.tidy(() => {
    const grid = tf.reshape(patches, [batch, rows, columns, patchSize, patchSize, channels]);
    // [n, i, j, u, v, c] → [n, i, u, j, v, c]
    return tf.reshape(tf.transpose(grid, [0, 1, 3, 2, 4, 5]), [batch, height, width, channels]) as Tensor4D;
  });
}

function requirePatchSize(patchSize: number): void {
  if (!Number.isInteger(patchSize) || patchSize < 1) {
    throw new SslError('invalid-config', `Invalid config value patchSize = ${formatValue(patchSize)}: expected an integer ≥ 1.`, {
      details: { field: 'patchSize', value: patchSize },
    });
  }
}

function requireDivisible(height: number, width: number, patchSize: number, what: string): void {
  if (height % patchSize !== 0 || width % patchSize !== 0) {
    throw new SslError(
      'shape-mismatch',
      `${what}: height ${height} and width ${width} must both be divisible by patchSize ${patchSize}. Resize or crop the images, or pick a patch size that divides both.`,
      { details: { height, width, patchSize } },
    );
  }
}
