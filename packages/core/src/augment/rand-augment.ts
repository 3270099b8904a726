import * as tf from '@tensorflow/tfjs-core';
import { SslError, invalidConfig } from '../errors';
import type { Random } from '../random';
import {
  adjustBrightness,
  adjustContrast,
  adjustSaturation,
  adjustSharpness,
  autoContrast,
  equalize,
  posterizeImages,
  solarizeImages,
} from './color';
import { affineImages, rotationMap, shearMap, translationMap } from './geometric';
import { checkImages } from './util';

/** The 14 operations of RandAugment (Cubuk et al. 2020, table 1 / the official op list). */
export const RAND_AUGMENT_OPS = [
  'Identity',
  'AutoContrast',
  'Equalize',
  'Rotate',
  'Solarize',
  'Color',
  'Posterize',
  'Contrast',
  'Brightness',
  'Sharpness',
  'ShearX',
  'ShearY',
  'TranslateX',
  'TranslateY',
] as const;

export type RandAugmentOpName = (typeof RAND_AUGMENT_OPS)[number];

/** One chosen operation: `level` in [0, 1] is magnitude/maxMagnitude, `sign` flips signed ops. */
export interface RandAugmentChoice {
  op: RandAugmentOpName;
  level: number;
  sign: 1 | -1;
}

export interface RandAugmentOptions {
  /** N: operations applied in sequence to each image (paper: 2). */
  numOps?: number;
  /**
   * M on the paper's 0..10 scale, or 'random' for a level drawn uniformly per operation as in
   * FixMatch's RandAugment variant (Sohn et al. 2020, appendix).
   */
  magnitude?: number | 'random';
  /** Restrict the op list (default: all 14). */
  ops?: readonly RandAugmentOpName[];
  /** Fill value for pixels a geometric op brings in from outside the image. */
  fill?: number;
  /**
   * Largest translation as a fraction of the side: torchvision's 150/331 ≈ 0.45 by default; FixMatch's
   * reference RandAugment uses 0.3.
   */
  translateFraction?: number;
}

/** torchvision's RandAugment translates by up to 150 px of a 331-px image. */
export const TORCHVISION_TRANSLATE_FRACTION = 150 / 331;

const MAX_MAGNITUDE = 10;
const SIGNED = new Set<RandAugmentOpName>([
  'Rotate',
  'Color',
  'Contrast',
  'Brightness',
  'Sharpness',
  'ShearX',
  'ShearY',
  'TranslateX',
  'TranslateY',
]);

/** Chooses N ops (uniformly, with replacement) and their levels for each image. */
export function sampleRandAugment(rng: Random, count: number, options: RandAugmentOptions = {}): RandAugmentChoice[][] {
  const numOps = options.numOps ?? 2;
  const magnitude = options.magnitude ?? 9;
  const ops = options.ops ?? RAND_AUGMENT_OPS;
  if (!(Number.isInteger(numOps) && numOps >= 0))
    throw new SslError('invalid-config', `randAugment: numOps must be a non-negative integer, got ${numOps}.`);
  if (magnitude !== 'random' && !(magnitude >= 0 && magnitude <= MAX_MAGNITUDE)) {
    throw new SslError('invalid-config', `randAugment: magnitude must lie in [0, ${MAX_MAGNITUDE}] or be 'random', got ${magnitude}.`);
  }
  const unknown = ops.filter((op) => !RAND_AUGMENT_OPS.includes(op));
  if (ops.length === 0 || unknown.length > 0) {
    throw new SslError(
      'invalid-config',
      `randAugment: ops must be a non-empty subset of ${RAND_AUGMENT_OPS.join(', ')}; unknown: ${unknown.join(', ')}.`,
    );
  }
  return Array.from({ length: count }, () =>
    Array.from({ length: numOps }, () => {
      const op = ops[rng.int(ops.length)];
      const level = magnitude === 'random' ? rng.next() : magnitude / MAX_MAGNITUDE;
      const sign: 1 | -1 = rng.bernoulli(0.5) ? -1 : 1;
      return { op, level, sign: SIGNED.has(op) ? sign : 1 };
    }),
  );
}

/**
 * Applies one op to a group of images with their own levels. Magnitude ranges follow torchvision's
 * RandAugment: rotate ±30°, shear ±0.3, translate ±150/331 of the side (or `translateFraction`), enhance
 * factors 1 ± 0.9, posterize 8 → 4 bits, solarize threshold 1 → 0.
 */
export function applyRandAugmentOp(
  op: RandAugmentOpName,
  images: tf.Tensor4D,
  choices: readonly RandAugmentChoice[],
  fill = 0,
  translateFraction = TORCHVISION_TRANSLATE_FRACTION,
): tf.Tensor4D {
  const [, h, w] = images.shape;
  const signed = choices.map((c) => c.sign * c.level);
  const factors = signed.map((s) => 1 + 0.9 * s);
  switch (op) {
    case 'Identity':
      return images.clone();
    case 'AutoContrast':
      return autoContrast(images);
    case 'Equalize':
      return equalize(images);
    case 'Rotate':
      return affineImages(
        images,
        signed.map((s) => rotationMap(30 * s, h, w)),
        fill,
      );
    case 'Solarize':
      return solarizeImages(
        images,
        choices.map((c) => 1 - c.level),
      );
    case 'Color':
      return adjustSaturation(images, factors);
    case 'Posterize':
      return posterizeImages(
        images,
        choices.map((c) => 8 - Math.round(4 * c.level)),
      );
    case 'Contrast':
      return adjustContrast(images, factors);
    case 'Brightness':
      return adjustBrightness(images, factors);
    case 'Sharpness':
      return adjustSharpness(images, factors);
    case 'ShearX':
      return affineImages(
        images,
        signed.map((s) => shearMap(0.3 * s, 0, h, w)),
        fill,
      );
    case 'ShearY':
      return affineImages(
        images,
        signed.map((s) => shearMap(0, 0.3 * s, h, w)),
        fill,
      );
    case 'TranslateX':
      return affineImages(
        images,
        signed.map((s) => translationMap(translateFraction * w * s, 0)),
        fill,
      );
    case 'TranslateY':
      return affineImages(
        images,
        signed.map((s) => translationMap(0, translateFraction * h * s)),
        fill,
      );
  }
}

/**
 * Applies a plan from sampleRandAugment: in each of the N rounds, the images that chose the same op
 * are gathered, transformed together, and scattered back to their rows.
 */
export function applyRandAugment(
  images: tf.Tensor4D,
  plan: readonly (readonly RandAugmentChoice[])[],
  options: { fill?: number; translateFraction?: number } = {},
): tf.Tensor4D {
  checkImages(images, 'randAugment');
  const translateFraction = options.translateFraction ?? TORCHVISION_TRANSLATE_FRACTION;
  if (!(translateFraction >= 0 && translateFraction <= 1))
    invalidConfig('translateFraction', translateFraction, 'a fraction of the side in [0, 1]');
  const n = images.shape[0];
  if (plan.length !== n) throw new SslError('shape-mismatch', `randAugment: a plan for ${plan.length} images given ${n}.`);
  const rounds = Math.max(0, ...plan.map((p) => p.length));
  return tf.tidy(() => {
    let x = images;
    for (let round = 0; round < rounds; round++) {
      const groups = new Map<RandAugmentOpName, number[]>();
      for (let i = 0; i < n; i++) {
        const choice = plan[i][round];
        if (!choice) continue;
        if (!groups.has(choice.op)) groups.set(choice.op, []);
        groups.get(choice.op)!.push(i);
      }
      const parts: tf.Tensor4D[] = [];
      const rowOrder: number[] = [];
      const untouched = Array.from({ length: n }, (_, i) => i).filter((i) => !plan[i][round]);
      if (untouched.length > 0) {
        parts.push(tf.gather(x, untouched) as tf.Tensor4D);
        rowOrder.push(...untouched);
      }
      for (const [op, rows] of groups) {
        const group = tf.gather(x, rows) as tf.Tensor4D;
        parts.push(
          applyRandAugmentOp(
            op,
            group,
            rows.map((i) => plan[i][round]),
            options.fill ?? 0,
            translateFraction,
          ),
        );
        rowOrder.push(...rows);
      }
      const inverse = new Int32Array(n);
      rowOrder.forEach((row, position) => (inverse[row] = position));
      x = tf.gather(tf.concat(parts, 0), inverse) as tf.Tensor4D;
    }
    return x === images ? images.clone() : x;
  });
}

/** RandAugment(N, M) with per-image op choices. Returns the plan too, so callers can see which ops ran. */
export function randAugment(
  images: tf.Tensor4D,
  rng: Random,
  options: RandAugmentOptions = {},
): { images: tf.Tensor4D; plan: RandAugmentChoice[][] } {
  checkImages(images, 'randAugment');
  const plan = sampleRandAugment(rng, images.shape[0], options);
  return { images: applyRandAugment(images, plan, { fill: options.fill, translateFraction: options.translateFraction }), plan };
}
