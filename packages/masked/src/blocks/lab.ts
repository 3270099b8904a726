import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, invalidConfig } from '@ssl/core';

/**
 * CIE L*a*b* for split-brain (D65 white, sRGB primaries and transfer curve, as skimage's rgb2lab that Zhang et
 * al.'s code uses) and the quantisation of its channels into classification bins: L in [0, 100], a and b in
 * about [−110, 110] for sRGB colours. A small local copy: @ssl/pretext has the same conversion for
 * colorization, and one plugin does not depend on another (core would be the shared home).
 */

/** D65 white point in XYZ (2° observer). */
const WHITE = [0.95047, 1, 1.08883] as const;
/** Linear sRGB → XYZ, rows are X, Y, Z (IEC 61966-2-1). */
const SRGB_TO_XYZ = [
  [0.412453, 0.35758, 0.180423],
  [0.212671, 0.71516, 0.072169],
  [0.019334, 0.119193, 0.950227],
] as const;
/** Below (6/29)³ CIE's f(t) = t^(1/3) turns linear: t/(3·(6/29)²) + 4/29. */
const DELTA = 6 / 29;

function linearToSrgbScalar(c: number): number {
  return c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
}

function srgbToLinearScalar(c: number): number {
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** One sRGB colour (channels in [0, 1]) to [L, a, b] in float64: the reference of `rgbToLab`. */
export function rgbToLabPixel(r: number, g: number, b: number): [number, number, number] {
  const linear = [r, g, b].map(srgbToLinearScalar);
  const [fx, fy, fz] = SRGB_TO_XYZ.map((row, i) => {
    const t = (row[0] * linear[0] + row[1] * linear[1] + row[2] * linear[2]) / WHITE[i];
    return t > DELTA ** 3 ? Math.cbrt(t) : t / (3 * DELTA ** 2) + 4 / 29;
  });
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

/** [L, a, b] back to sRGB in [0, 1] (clipped to the gamut), float64: the inverse of `rgbToLabPixel`. */
export function labToRgbPixel(l: number, a: number, b: number): [number, number, number] {
  const fy = (l + 16) / 116;
  const f = [fy + a / 500, fy, fy - b / 200];
  const xyz = f.map((t, i) => (t > DELTA ? t ** 3 : 3 * DELTA ** 2 * (t - 4 / 29)) * WHITE[i]);
  const m = SRGB_TO_XYZ;
  // Solve SRGB_TO_XYZ · linear = xyz by Cramer's rule (3×3).
  const det = (q: readonly (readonly number[])[]) =>
    q[0][0] * (q[1][1] * q[2][2] - q[1][2] * q[2][1]) -
    q[0][1] * (q[1][0] * q[2][2] - q[1][2] * q[2][0]) +
    q[0][2] * (q[1][0] * q[2][1] - q[1][1] * q[2][0]);
  const whole = det(m);
  const linear = [0, 1, 2].map((column) => det(m.map((row, i) => row.map((v, j) => (j === column ? xyz[i] : v)))) / whole);
  return linear.map((c) => Math.min(1, Math.max(0, linearToSrgbScalar(Math.min(1, Math.max(0, c)))))) as [number, number, number];
}

/**
 * sRGB images in [0, 1] [N, H, W, 3] to L*a*b* [N, H, W, 3] (channel 0: L, 1: a, 2: b). Used on data only
 * (inputs and targets), so its gradient is never needed.
 */
export function rgbToLab(images: Tensor4D): Tensor4D {
  if (images.rank !== 4 || images.shape[3] !== 3) {
    throw new SslError('shape-mismatch', `rgbToLab: expected RGB images [N, H, W, 3], got ${formatShape(images.shape)}.`);
  }
  return tf.tidy(() => {
    const [n, h, w] = images.shape;
    const rgb = tf.clipByValue(tf.reshape(images, [n * h * w, 3]), 0, 1);
    const linear = tf.where(tf.lessEqual(rgb, 0.04045), tf.div(rgb, 12.92), tf.pow(tf.div(tf.add(rgb, 0.055), 1.055), 2.4));
    // One matMul for the matrix and the white point: [P, 3] · [3, 3]ᵀ / white.
    const toXyz = tf.tensor2d(SRGB_TO_XYZ.map((row, i) => row.map((v) => v / WHITE[i])));
    const xyz = tf.matMul(linear, toXyz, false, true);
    const f = tf.where(
      tf.greater(xyz, DELTA ** 3),
      tf.pow(tf.maximum(xyz, DELTA ** 3), 1 / 3),
      tf.add(tf.div(xyz, 3 * DELTA ** 2), 4 / 29),
    );
    // [fx, fy, fz] → [116·fy − 16, 500·(fx − fy), 200·(fy − fz)].
    const toLab = tf.tensor2d([
      [0, 500, 0],
      [116, -500, 200],
      [0, 0, -200],
    ]);
    return tf.reshape(tf.add(tf.matMul(f, toLab), tf.tensor1d([-16, 0, 0])), [n, h, w, 3]) as Tensor4D;
  });
}

/** How far a and b reach for sRGB colours: a in about [−86, 98], b in about [−108, 95]. */
export const AB_RANGE = 110;

/**
 * The ab bins of the sRGB gamut on a grid of side `gridSize` (Zhang et al. 2016, Sec. 2.1: grid size 10 gives 313
 * bins on ImageNet's colours; the sRGB cube reaches a few less): the centres (multiples of gridSize) of the cells
 * that hold the ab of at least one sRGB colour of a 64-step sweep of the cube. Returns [Q, 2], a-major order.
 */
export function abGamutBins(gridSize = 10): [number, number][] {
  if (!(gridSize > 0) || !Number.isFinite(gridSize)) invalidConfig('abGridSize', gridSize, 'a positive number (ab units)');
  const cells = new Set<string>();
  const steps = 64;
  for (let r = 0; r <= steps; r++) {
    for (let g = 0; g <= steps; g++) {
      for (let b = 0; b <= steps; b++) {
        const [, a, bb] = rgbToLabPixel(r / steps, g / steps, b / steps);
        cells.add(`${Math.round(a / gridSize)},${Math.round(bb / gridSize)}`);
      }
    }
  }
  return [...cells]
    .map((cell) => cell.split(',').map((v) => Number(v) * gridSize) as [number, number])
    .sort((p, q) => p[0] - q[0] || p[1] - q[1]);
}

/** Index of the nearest ab bin [P] (int32) of each ab pair [P, 2], by squared distance to the bin centres [Q, 2]. */
export function nearestAbBin(ab: Tensor2D, bins: Tensor2D): Tensor1D {
  return tf.tidy(() => {
    // ‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖²; ‖x‖² is the same for every bin of a row and drops out of the argmin.
    const distances = tf.sub(tf.sum(tf.square(bins), 1), tf.mul(2, tf.matMul(ab, bins, false, true)));
    return tf.argMin(distances, 1) as Tensor1D;
  });
}

/** Bin index [P] (int32) of each lightness L [P] in [0, 100]: `lightnessBins` equal bins (the last closed). */
export function lightnessBin(lightness: Tensor1D, lightnessBins: number): Tensor1D {
  return tf.tidy(
    () => tf.cast(tf.clipByValue(tf.floor(tf.mul(lightness, lightnessBins / 100)), 0, lightnessBins - 1), 'int32') as Tensor1D,
  );
}
