import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, invalidConfig } from '@ssl/core';
import type { Random } from '@ssl/core';

/**
 * Patch and tile sampling for the spatial pretext tasks (context prediction, jigsaw, Selfie). A layout is a
 * `grid × grid` arrangement of square patches; neighbouring patches are separated by at least `gap` pixels
 * and each patch is moved by up to `jitter` pixels in each direction. Doersch et al. (2015, sec. 3) and
 * Noroozi & Favaro (2016, sec. 3.2) both use gaps and jitter so that the network cannot solve the task from
 * low-level cues that continue across a patch border (lines, textures, boundary pixels).
 */
export interface GridLayout {
  /** Patches per row and per column (3 for context prediction and jigsaw). */
  readonly grid: number;
  /** Side of every square patch, in pixels. */
  readonly patchSize: number;
  /** Smallest number of pixels between two neighbouring patches, whatever the jitter. */
  readonly gap: number;
  /** Largest shift of a patch from its nominal position, in pixels, in each direction. */
  readonly jitter: number;
}

/** Where one patch is cut: the image it comes from (row of the batch) and its top-left corner. */
export interface PatchBox {
  readonly image: number;
  readonly top: number;
  readonly left: number;
}

/**
 * Distance between the nominal top-left corners of neighbouring patches: patch + gap + room for both
 * patches' jitter, so that two patches jittered towards each other are still `gap` pixels apart.
 */
export function gridStride(layout: GridLayout): number {
  return layout.patchSize + layout.gap + 2 * layout.jitter;
}

/** Side of the square region a layout needs, jitter included: grid·patch + (grid−1)·(gap + 2·jitter) + 2·jitter. */
export function gridExtent(layout: GridLayout): number {
  return (layout.grid - 1) * gridStride(layout) + layout.patchSize + 2 * layout.jitter;
}

/**
 * Throws SslError('invalid-config') naming the field unless the layout is well formed and fits in an
 * image of `height × width` (when given). `prefix` names the config the fields belong to.
 */
export function validateGridLayout(layout: GridLayout, imageSize?: readonly [number, number], prefix = ''): void {
  const nonNegativeInteger = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value >= 0;
  if (!(nonNegativeInteger(layout.grid) && layout.grid >= 2)) invalidConfig(`${prefix}grid`, layout.grid, 'an integer ≥ 2');
  if (!(nonNegativeInteger(layout.patchSize) && layout.patchSize >= 1))
    invalidConfig(`${prefix}patchSize`, layout.patchSize, 'a positive integer');
  if (!nonNegativeInteger(layout.gap)) invalidConfig(`${prefix}gap`, layout.gap, 'a non-negative integer');
  if (!nonNegativeInteger(layout.jitter)) invalidConfig(`${prefix}jitter`, layout.jitter, 'a non-negative integer');
  if (imageSize) {
    const extent = gridExtent(layout);
    if (extent > Math.min(imageSize[0], imageSize[1])) {
      invalidConfig(
        `${prefix}patchSize`,
        layout.patchSize,
        `a layout that fits the ${imageSize[0]}×${imageSize[1]} images: ${layout.grid}×${layout.grid} patches of ${layout.patchSize} px with gap ${layout.gap} and jitter ${layout.jitter} need ${extent}×${extent} px (grid·patch + (grid−1)·(gap + 2·jitter) + 2·jitter); use smaller patches, a smaller gap or less jitter`,
      );
    }
  }
}

/**
 * Samples one grid of patches in an image of `height × width`: a random placement of the whole grid, then an
 * independent jitter of each patch. Returns grid² boxes in row-major order (index r·grid + c).
 */
export function sampleGridBoxes(rng: Random, image: number, height: number, width: number, layout: GridLayout): PatchBox[] {
  const extent = gridExtent(layout);
  const stride = gridStride(layout);
  const originTop = rng.int(height - extent + 1);
  const originLeft = rng.int(width - extent + 1);
  const boxes: PatchBox[] = [];
  for (let row = 0; row < layout.grid; row++) {
    for (let column = 0; column < layout.grid; column++) {
      boxes.push({
        image,
        top: originTop + layout.jitter + row * stride + rng.int(2 * layout.jitter + 1) - layout.jitter,
        left: originLeft + layout.jitter + column * stride + rng.int(2 * layout.jitter + 1) - layout.jitter,
      });
    }
  }
  return boxes;
}

/**
 * Cuts `patchSize × patchSize` patches out of a batch of NHWC images, one per box, in box order, with a single
 * gather (no per-patch slices). The caller disposes the result; the input is not disposed.
 */
export function extractPatches(images: Tensor4D, boxes: readonly PatchBox[], patchSize: number): Tensor4D {
  if (images.rank !== 4) {
    throw new SslError('shape-mismatch', `extractPatches: expected NHWC images of rank 4, got shape ${formatShape(images.shape)}.`);
  }
  const [n, height, width, channels] = images.shape;
  const area = patchSize * patchSize;
  const indices = new Int32Array(boxes.length * area);
  boxes.forEach((box, b) => {
    if (box.image < 0 || box.image >= n || box.top < 0 || box.left < 0 || box.top + patchSize > height || box.left + patchSize > width) {
      throw new SslError(
        'shape-mismatch',
        `extractPatches: a ${patchSize}×${patchSize} patch at (${box.top}, ${box.left}) of image ${box.image} lies outside the batch of ${n} images of ${height}×${width}.`,
      );
    }
    const base = box.image * height * width;
    for (let y = 0; y < patchSize; y++) {
      for (let x = 0; x < patchSize; x++) indices[b * area + y * patchSize + x] = base + (box.top + y) * width + box.left + x;
    }
  });
  return tf.tidy(() => {
    const pixels = tf.reshape(images, [n * height * width, channels]);
    const gathered = tf.gather(pixels, tf.tensor1d(indices, 'int32'));
    return tf.reshape(gathered, [boxes.length, patchSize, patchSize, channels]) as Tensor4D;
  });
}

/**
 * Per-tile normalisation (Noroozi & Favaro 2016, sec. 3.2; their code normalises every tile by its own mean
 * and standard deviation per channel): each tile loses its mean brightness and contrast, so a network cannot
 * place tiles by those low-level statistics. `epsilon` is added to the variance: a blank tile (Fashion-MNIST's
 * background is exactly 0) becomes all zeros instead of dividing by zero.
 */
export function normalizeTiles(tiles: Tensor4D, epsilon = 1e-4): Tensor4D {
  if (tiles.rank !== 4) {
    throw new SslError('shape-mismatch', `normalizeTiles: expected tiles [M, h, w, C], got shape ${formatShape(tiles.shape)}.`);
  }
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(tiles, [1, 2], true);
    return tf.div(tf.sub(tiles, mean), tf.sqrt(tf.add(variance, epsilon))) as Tensor4D;
  });
}

/**
 * Patches as the encoder is given them: resized (bilinear) to `inputSize × inputSize`, or as cut when `inputSize`
 * is 0 or their own side. On 28×28 images the tiles of a 3×3 grid are 6-9 px, and a CNN with two 2×2 poolings
 * reduces them to 1-2 px before its last stage, whose 3×3 kernels then see mostly padding — and batch norm
 * learns statistics of those tiny maps, while the encoder is evaluated on whole images with 7×7 maps. Resizing
 * the tiles to the evaluation images' side trains every stage at the scale it is evaluated at.
 */
export function resizePatches(patches: Tensor4D, inputSize: number): Tensor4D {
  if (inputSize === 0 || (patches.shape[1] === inputSize && patches.shape[2] === inputSize)) return tf.clone(patches);
  return tf.image.resizeBilinear(patches, [inputSize, inputSize]);
}

/** Throws SslError('invalid-config') unless `value` is 0 (patches as cut) or an integer side ≥ the patch side. */
export function validatePatchInputSize(value: unknown, patchSize: number, field = 'patchInputSize'): void {
  if (!(typeof value === 'number' && Number.isInteger(value) && (value === 0 || value >= patchSize)))
    invalidConfig(field, value, `0 (patches as cut) or an integer side ≥ patchSize (${patchSize})`);
}
