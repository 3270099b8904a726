import * as tf from '@tensorflow/tfjs-core';
import { SslError } from '../errors';
import type { Random } from '../random';
import { checkImages, checkProbability, checkRange, perImage, selectPerImage } from './util';

/** A crop in pixels: rows top..top+height-1, columns left..left+width-1. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * Samples one crop per image as torchvision's RandomResizedCrop (Szegedy et al. 2015, used by SimCLR,
 * BYOL, DINO): area fraction uniform in `scale`, log aspect ratio uniform in log(`ratio`), ten tries to
 * fit, then a centre crop with the ratio clamped.
 */
export function sampleCropBoxes(
  rng: Random,
  count: number,
  imageHeight: number,
  imageWidth: number,
  scale: readonly [number, number],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropBox[] {
  checkRange(scale, 'randomResizedCrop', 'scale', 0);
  checkRange(ratio, 'randomResizedCrop', 'ratio', 0);
  const area = imageHeight * imageWidth;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  const boxes: CropBox[] = [];
  for (let n = 0; n < count; n++) {
    let box: CropBox | undefined;
    for (let attempt = 0; attempt < 10 && !box; attempt++) {
      const targetArea = area * rng.uniform(scale[0], scale[1]);
      const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
      const width = Math.round(Math.sqrt(targetArea * aspect));
      const height = Math.round(Math.sqrt(targetArea / aspect));
      if (width > 0 && height > 0 && width <= imageWidth && height <= imageHeight) {
        box = { top: rng.int(imageHeight - height + 1), left: rng.int(imageWidth - width + 1), height, width };
      }
    }
    if (!box) {
      const inRatio = imageWidth / imageHeight;
      let width = imageWidth;
      let height = imageHeight;
      if (inRatio < ratio[0]) height = Math.round(width / ratio[0]);
      else if (inRatio > ratio[1]) width = Math.round(height * ratio[1]);
      box = { top: Math.floor((imageHeight - height) / 2), left: Math.floor((imageWidth - width) / 2), height, width };
    }
    boxes.push(box);
  }
  return boxes;
}

/**
 * Crops each image to its box and resizes it to `size` (bilinear). Box corners are placed on the
 * centres of the box's first and last pixels, so every output value interpolates pixels inside the box.
 */
export function cropAndResizeBoxes(images: tf.Tensor4D, boxes: readonly CropBox[], size: readonly [number, number]): tf.Tensor4D {
  checkImages(images, 'cropAndResizeBoxes');
  const [n, h, w] = images.shape;
  if (boxes.length !== n) throw new SslError('shape-mismatch', `cropAndResizeBoxes: ${boxes.length} boxes for ${n} images.`);
  return tf.tidy(() => {
    const coordinates = new Float32Array(4 * n);
    const yScale = h > 1 ? 1 / (h - 1) : 0;
    const xScale = w > 1 ? 1 / (w - 1) : 0;
    boxes.forEach((b, i) => {
      coordinates[4 * i] = b.top * yScale;
      coordinates[4 * i + 1] = b.left * xScale;
      coordinates[4 * i + 2] = (b.top + b.height - 1) * yScale;
      coordinates[4 * i + 3] = (b.left + b.width - 1) * xScale;
    });
    const boxIndices = tf.tensor1d(
      Int32Array.from({ length: n }, (_, i) => i),
      'int32',
    );
    return tf.image.cropAndResize(images, tf.tensor2d(coordinates, [n, 4]), boxIndices, [size[0], size[1]], 'bilinear');
  });
}

export interface RandomResizedCropOptions {
  /** Output [height, width]; default the input size. */
  size?: [number, number];
  scale?: [number, number];
  ratio?: [number, number];
}

/** RandomResizedCrop per image (see sampleCropBoxes). */
export function randomResizedCrop(images: tf.Tensor4D, rng: Random, options: RandomResizedCropOptions = {}): tf.Tensor4D {
  checkImages(images, 'randomResizedCrop');
  const [n, h, w] = images.shape;
  const boxes = sampleCropBoxes(rng, n, h, w, options.scale ?? [0.08, 1], options.ratio ?? [3 / 4, 4 / 3]);
  return cropAndResizeBoxes(images, boxes, options.size ?? [h, w]);
}

/** Mirrors every image left-right. */
export function flipImages(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.reverse(images, 2) as tf.Tensor4D);
}

/** Mirrors each image left-right with probability p. */
export function horizontalFlip(images: tf.Tensor4D, rng: Random, options: { p?: number } = {}): tf.Tensor4D {
  checkImages(images, 'horizontalFlip');
  const p = options.p ?? 0.5;
  checkProbability(p, 'horizontalFlip');
  const mask = Array.from({ length: images.shape[0] }, () => (rng.bernoulli(p) ? 1 : 0));
  return tf.tidy(() => selectPerImage(perImage(mask), flipImages(images), images));
}

/** Rotates image i by quarterTurns[i] × 90° counter-clockwise (as numpy.rot90). Odd turns need square images. */
export function rotate90Images(images: tf.Tensor4D, quarterTurns: ArrayLike<number>): tf.Tensor4D {
  checkImages(images, 'rotate90');
  const [n, h, w] = images.shape;
  const turns = Array.from(quarterTurns, (k) => ((Math.round(k) % 4) + 4) % 4);
  if (turns.length !== n) throw new SslError('shape-mismatch', `rotate90: ${turns.length} turn counts for ${n} images.`);
  if (h !== w && turns.some((k) => k % 2 === 1)) {
    throw new SslError('shape-mismatch', `rotate90: odd quarter turns need square images, got ${h}×${w}; crop to a square first.`);
  }
  return tf.tidy(() => {
    // One quarter turn counter-clockwise: out[i][j] = in[j][W-1-i] = reverse rows of the transpose.
    const quarter = (x: tf.Tensor4D) => tf.reverse(tf.transpose(x, [0, 2, 1, 3]), 1) as tf.Tensor4D;
    let result = tf.mul(images, perImage(turns.map((k) => (k === 0 ? 1 : 0)))) as tf.Tensor4D;
    let rotated = images;
    const maxTurns = Math.max(0, ...turns);
    for (let k = 1; k <= maxTurns; k++) {
      rotated = quarter(rotated);
      result = tf.add(result, tf.mul(rotated, perImage(turns.map((t) => (t === k ? 1 : 0))))) as tf.Tensor4D;
    }
    return result;
  });
}

/** Rotates each image by a uniformly drawn multiple of 90° (the RotNet pretext task, Gidaris et al. 2018). */
export function rotate90(images: tf.Tensor4D, rng: Random): { images: tf.Tensor4D; quarterTurns: Int32Array } {
  const quarterTurns = Int32Array.from({ length: images.shape[0] }, () => rng.int(4));
  return { images: rotate90Images(images, quarterTurns), quarterTurns };
}

/**
 * A 2×3 affine map from OUTPUT pixel (x, y) to the INPUT pixel it samples:
 * x_in = a0 x + a1 y + a2, y_in = b0 x + b1 y + b2 (tf.image.transform's convention).
 */
export type AffineToInput = [number, number, number, number, number, number];

/** Samples each image at its affine map (bilinear), filling outside the source with `fill`. */
export function affineImages(images: tf.Tensor4D, maps: readonly AffineToInput[], fill = 0): tf.Tensor4D {
  checkImages(images, 'affine');
  const n = images.shape[0];
  if (maps.length !== n) throw new SslError('shape-mismatch', `affine: ${maps.length} maps for ${n} images.`);
  return tf.tidy(() => {
    const rows = new Float32Array(8 * n);
    maps.forEach((m, i) => rows.set([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0], 8 * i));
    return tf.image.transform(images, tf.tensor2d(rows, [n, 8]), 'bilinear', 'constant', fill);
  });
}

/** Counter-clockwise rotation by `degrees` about the image centre, as an output→input map. */
export function rotationMap(degrees: number, height: number, width: number): AffineToInput {
  const theta = (degrees * Math.PI) / 180;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  // Inverse of a visual counter-clockwise turn with y pointing down.
  return [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy];
}

/** Shear about the image centre: x_in = x + shearX (y - cy), y_in = y + shearY (x - cx). */
export function shearMap(shearX: number, shearY: number, height: number, width: number): AffineToInput {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  return [1, shearX, -shearX * cy, shearY, 1, -shearY * cx];
}

/** Moves the content by (dx, dy) pixels (right/down positive). */
export function translationMap(dx: number, dy: number): AffineToInput {
  return [1, 0, -dx, 0, 1, -dy];
}

/** Rotates each image by an angle uniform in `degrees` (counter-clockwise positive) with probability p. */
export function rotate(images: tf.Tensor4D, rng: Random, options: { degrees: [number, number]; p?: number; fill?: number }): tf.Tensor4D {
  checkImages(images, 'rotate');
  checkRange(options.degrees, 'rotate', 'degrees');
  const p = options.p ?? 1;
  checkProbability(p, 'rotate');
  const [n, h, w] = images.shape;
  const maps = Array.from({ length: n }, () => {
    const angle = rng.uniform(options.degrees[0], options.degrees[1]);
    return rotationMap(rng.bernoulli(p) ? angle : 0, h, w);
  });
  return affineImages(images, maps, options.fill ?? 0);
}

/**
 * FixMatch's weak translation (Sohn et al. 2020): reflect-pad by `fraction` of the side (12.5% → 4 px
 * on 32×32) and take a random crop of the original size, so content moves by up to that many pixels
 * without black borders.
 */
export function translateReflect(images: tf.Tensor4D, rng: Random, options: { fraction?: number } = {}): tf.Tensor4D {
  checkImages(images, 'translate');
  const fraction = options.fraction ?? 0.125;
  if (!(fraction >= 0 && fraction < 1)) throw new SslError('invalid-config', `translate: fraction must lie in [0, 1), got ${fraction}.`);
  const [n, h, w] = images.shape;
  const padY = Math.min(h - 1, Math.round(h * fraction));
  const padX = Math.min(w - 1, Math.round(w * fraction));
  const boxes: CropBox[] = Array.from({ length: n }, () => ({
    top: rng.int(2 * padY + 1),
    left: rng.int(2 * padX + 1),
    height: h,
    width: w,
  }));
  if (padY === 0 && padX === 0) return images.clone();
  return tf.tidy(() => {
    const padded = tf.mirrorPad(
      images,
      [
        [0, 0],
        [padY, padY],
        [padX, padX],
        [0, 0],
      ],
      'reflect',
    );
    return cropAndResizeBoxes(padded, boxes, [h, w]);
  });
}

/** Cutout squares in pixels: rows y0..y1-1, columns x0..x1-1 (already clipped to the image; empty when not applied). */
export interface CutoutBox {
  y0: number;
  x0: number;
  y1: number;
  x1: number;
}

/**
 * Samples one square per image (DeVries & Taylor 2017): side = round(size × min(H, W)), centre uniform
 * over the image, clipped at the borders so it may be partly outside; empty with probability 1-p.
 */
export function sampleCutoutBoxes(rng: Random, count: number, height: number, width: number, size: number, p = 1): CutoutBox[] {
  if (!(size > 0 && size <= 1))
    throw new SslError('invalid-config', `cutout: size is a fraction of the image side in (0, 1], got ${size}.`);
  checkProbability(p, 'cutout');
  const side = Math.max(1, Math.round(size * Math.min(height, width)));
  return Array.from({ length: count }, () => {
    const cy = rng.int(height);
    const cx = rng.int(width);
    if (!rng.bernoulli(p)) return { y0: 0, x0: 0, y1: 0, x1: 0 };
    const y0 = cy - Math.floor(side / 2);
    const x0 = cx - Math.floor(side / 2);
    return { y0: Math.max(0, y0), x0: Math.max(0, x0), y1: Math.min(height, y0 + side), x1: Math.min(width, x0 + side) };
  });
}

/** Sets each image's box to `fill`. */
export function applyCutout(images: tf.Tensor4D, boxes: readonly CutoutBox[], fill = 0): tf.Tensor4D {
  checkImages(images, 'cutout');
  const [n, h, w] = images.shape;
  if (boxes.length !== n) throw new SslError('shape-mismatch', `cutout: ${boxes.length} boxes for ${n} images.`);
  // The mask is drawn here and uploaded once: built from broadcast comparisons it cost ~23 ms on wasm
  // for 112 images of 28×28 (logicalAnd of [N,H,1,1] and [N,1,W,1] takes the generic broadcast path).
  const inside = new Float32Array(n * h * w);
  boxes.forEach((box, i) => {
    for (let y = box.y0; y < box.y1; y++) inside.fill(1, (i * h + y) * w + box.x0, (i * h + y) * w + box.x1);
  });
  return tf.tidy(() => {
    if (n === 0) return images.clone();
    const mask = tf.tensor4d(inside, [n, h, w, 1]);
    return tf.add(tf.mul(images, tf.sub(1, mask)), tf.mul(mask, fill)) as tf.Tensor4D;
  });
}

/** Cutout with probability p; `size` is the square's side as a fraction of the image side. */
export function cutout(images: tf.Tensor4D, rng: Random, options: { size?: number; p?: number; fill?: number } = {}): tf.Tensor4D {
  checkImages(images, 'cutout');
  const [n, h, w] = images.shape;
  return applyCutout(images, sampleCutoutBoxes(rng, n, h, w, options.size ?? 0.5, options.p ?? 1), options.fill ?? 0);
}
