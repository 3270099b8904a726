import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { Random, invalidConfig } from '@ssl/core';

/** Which region a context encoder drops (Pathak et al. 2016, Sec. 3.3). */
export type RegionKind = 'center' | 'random-region';

export interface RegionMaskOptions {
  readonly region: RegionKind;
  /**
   * Fraction of the image's area the region covers. 'center': a square of side round(side · √area), so 0.25
   * is the paper's 64 px centre of a 128 px image (14 of 28 here); 'random-region': exactly round(H·W·area)
   * pixels (the paper's random regions cover up to a quarter of the image).
   */
  readonly regionArea: number;
  /**
   * Pixels of the region's border that stay visible in the input but are still predicted (the reference
   * code's `overlapPred`, 4 px of a 64 px region; 1 px of a 14 px region keeps that proportion).
   */
  readonly overlap: number;
}

/** The two masks of a batch, [N, H, W, 1] floats in {0, 1}. */
export interface RegionMasks {
  /** The region the decoder predicts and the loss covers (hole and its visible border). */
  readonly region: Tensor4D;
  /** The pixels removed from the input: the region eroded by `overlap` pixels. */
  readonly hole: Tensor4D;
}

/** Coarse grid of the random-region noise: blobs of about a quarter of the image side. */
const RANDOM_REGION_GRID = 4;

export function validateRegionMask(options: RegionMaskOptions): void {
  if (options.region !== 'center' && options.region !== 'random-region')
    invalidConfig('region', options.region, "'center' or 'random-region'");
  const area = options.regionArea;
  if (typeof area !== 'number' || !(area > 0 && area < 1))
    invalidConfig('regionArea', area, 'a number strictly between 0 and 1 (a fraction of the image)');
  if (!Number.isInteger(options.overlap) || options.overlap < 0) invalidConfig('overlap', options.overlap, 'an integer ≥ 0 (pixels)');
}

/** Side of the central square covering `area` of a `side`-pixel image: round(side · √area), at least 1. */
export function centerRegionSide(side: number, area: number): number {
  return Math.max(1, Math.round(side * Math.sqrt(area)));
}

/** Pixels a random region covering `area` of an H×W image holds: round(H·W·area), at least 1. */
export function randomRegionPixels(height: number, width: number, area: number): number {
  return Math.max(1, Math.round(height * width * area));
}

/** 1 − dilate(1 − mask): the pixels of `mask` at least `radius` pixels (Chebyshev) inside it. Outside the image counts as inside. */
function erode(mask: Tensor4D, radius: number): Tensor4D {
  if (radius === 0) return tf.clone(mask);
  const size = 2 * radius + 1;
  return tf.tidy(() => tf.sub(1, tf.maxPool(tf.sub(1, mask) as Tensor4D, size, 1, 'same')) as Tensor4D);
}

/**
 * The central square of `centerRegionSide(H, area)` × `centerRegionSide(W, area)` pixels, placed as the
 * reference code's `fineSize/4 .. fineSize/4 + fineSize/2` (top-left offset floor((H − side) / 2)).
 */
function centerRegion(batch: number, height: number, width: number, area: number): Tensor4D {
  const rows = centerRegionSide(height, area);
  const columns = centerRegionSide(width, area);
  const top = Math.floor((height - rows) / 2);
  const left = Math.floor((width - columns) / 2);
  const values = new Float32Array(height * width);
  for (let y = top; y < top + rows; y++) values.fill(1, y * width + left, y * width + left + columns);
  return tf.tidy(() => tf.tile(tf.tensor4d(values, [1, height, width, 1]), [batch, 1, 1, 1]) as Tensor4D);
}

/**
 * Arbitrary-shaped regions, a stand-in for the paper's random regions (Sec. 3.3: PASCAL segmentation masks,
 * deformed): Gaussian noise on a 4×4 grid, upsampled bilinearly to the image, and the `pixels` highest
 * values of each image taken, so every region covers exactly `pixels` pixels in one or a few smooth blobs.
 */
function randomRegion(batch: number, height: number, width: number, pixels: number, rng: Random): Tensor4D {
  return tf.tidy(() => {
    const noise = tf.randomNormal([batch, RANDOM_REGION_GRID, RANDOM_REGION_GRID, 1], 0, 1, 'float32', rng.seed()) as Tensor4D;
    const smooth = tf.reshape(tf.image.resizeBilinear(noise, [height, width], true), [batch, height * width]);
    const { values } = tf.topk(smooth, pixels);
    const threshold = tf.slice(values, [0, pixels - 1], [batch, 1]);
    return tf.reshape(tf.cast(tf.greaterEqual(smooth, threshold), 'float32'), [batch, height, width, 1]) as Tensor4D;
  });
}

/**
 * The masks of one batch of [N, H, W, C] images: the region to predict and the hole cut from the input (the
 * region minus its `overlap`-pixel border). Random regions draw from `rng` (a Random or a seed).
 */
export function regionMasks(images: Tensor4D, options: RegionMaskOptions, rng: Random | number = 0): RegionMasks {
  validateRegionMask(options);
  const [batch, height, width] = images.shape;
  const random = typeof rng === 'number' ? new Random(rng) : rng;
  return tf.tidy(() => {
    const region =
      options.region === 'center'
        ? centerRegion(batch, height, width, options.regionArea)
        : randomRegion(batch, height, width, randomRegionPixels(height, width, options.regionArea), random);
    return { region, hole: erode(region, options.overlap) };
  });
}

/** The context encoder's input: the image with its hole filled by `fillValue` (the reference fills with the data mean). */
export function dropRegion(images: Tensor4D, hole: Tensor4D, fillValue: number): Tensor4D {
  return tf.tidy(() => tf.add(tf.mul(images, tf.sub(1, hole)), tf.mul(hole, fillValue)) as Tensor4D);
}
