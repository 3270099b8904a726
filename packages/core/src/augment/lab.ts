import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, formatShape } from '../errors';

/**
 * CIE L*a*b* (D65 white, sRGB primaries and transfer curve, as skimage.color.rgb2lab which Zhang et al.'s
 * colorization and split-brain code use) and the quantisation of its ab plane into bins. L lies in [0, 100]; a
 * and b in about [−110, 110] for sRGB colours. Colour pretext tasks (@ssl/pretext, @ssl/masked) share it.
 */

/** D65 reference white in XYZ (skimage's 'D65', 2° observer). */
const WHITE_D65 = [0.95047, 1, 1.08883] as const;
/** Linear sRGB → XYZ (IEC 61966-2-1, as skimage). */
const RGB_TO_XYZ = [
  [0.412453, 0.35758, 0.180423],
  [0.212671, 0.71516, 0.072169],
  [0.019334, 0.119193, 0.950227],
] as const;
const XYZ_TO_RGB = invert3(RGB_TO_XYZ);
/** f(t) of CIE Lab is a cube root above (6/29)³ and linear below. */
const LAB_DELTA = 6 / 29;

function invert3(m: readonly (readonly number[])[]): number[][] {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}

function requireNhwc3(images: Tensor4D, where: string): void {
  if (images.rank !== 4 || images.shape[3] !== 3) {
    throw new SslError('shape-mismatch', `${where}: expected NHWC images with 3 channels, got shape ${formatShape(images.shape)}.`);
  }
}

/**
 * Mixes the channels of NHWC images by a matrix [C_in, C_out]: out_j = Σ_i x_i·mix[i][j] (+ offset_j). One
 * matMul: splitting, slicing or tiling the channel axis is several times slower on the wasm backend.
 */
export function mixChannels(x: Tensor4D, mix: readonly (readonly number[])[], offset?: readonly number[]): Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const out = mix[0].length;
    let mixed = tf.matMul(tf.reshape(x, [n * h * w, c]), tf.tensor2d(mix.map((row) => [...row])));
    if (offset) mixed = tf.add(mixed, tf.tensor1d([...offset]));
    return tf.reshape(mixed, [n, h, w, out]) as Tensor4D;
  });
}

/** The transpose of a 3×3 matrix: mixChannels takes [C_in, C_out], the colour matrices are written [out][in]. */
function transpose3(m: readonly (readonly number[])[]): number[][] {
  return [0, 1, 2].map((i) => [m[0][i], m[1][i], m[2][i]]);
}

/** [fx, fy, fz] → [L, a, b]: L = 116·fy − 16, a = 500·(fx − fy), b = 200·(fy − fz). */
const F_TO_LAB = [
  [0, 500, 0],
  [116, -500, 200],
  [0, 0, -200],
];
const F_TO_LAB_OFFSET = [-16, 0, 0];
/** [L, a, b] → [fx, fy, fz]: fy = (L + 16)/116, fx = fy + a/500, fz = fy − b/200. */
const LAB_TO_F = [
  [1 / 116, 1 / 116, 1 / 116],
  [1 / 500, 0, 0],
  [0, 0, -1 / 200],
];
const LAB_TO_F_OFFSET = [16 / 116, 16 / 116, 16 / 116];

/**
 * sRGB images in [0, 1] (NHWC, 3 channels) to L*a*b* (channel 0: L in [0, 100], 1: a, 2: b). Not
 * differentiable where it matters to nobody (the targets and the input of colorization need no gradient).
 */
export function rgbToLab(images: Tensor4D): Tensor4D {
  requireNhwc3(images, 'rgbToLab');
  return tf.tidy(() => {
    const rgb = tf.clipByValue(images, 0, 1);
    // sRGB transfer curve: linear below 0.04045, a 2.4 power above.
    const linear = tf.where(tf.lessEqual(rgb, 0.04045), tf.div(rgb, 12.92), tf.pow(tf.div(tf.add(rgb, 0.055), 1.055), 2.4)) as Tensor4D;
    // XYZ relative to the white: the white's components folded into the matrix.
    const xyz = mixChannels(linear, transpose3(RGB_TO_XYZ.map((row, i) => row.map((v) => v / WHITE_D65[i]))));
    const f = tf.where(
      tf.greater(xyz, LAB_DELTA ** 3),
      tf.pow(tf.maximum(xyz, LAB_DELTA ** 3), 1 / 3),
      tf.add(tf.div(xyz, 3 * LAB_DELTA ** 2), 4 / 29),
    ) as Tensor4D;
    return mixChannels(f, F_TO_LAB, F_TO_LAB_OFFSET);
  });
}

/** L*a*b* (NHWC: L, a, b) back to sRGB in [0, 1]; colours outside the sRGB gamut are clipped. */
export function labToRgb(lab: Tensor4D): Tensor4D {
  requireNhwc3(lab, 'labToRgb');
  return tf.tidy(() => {
    const f = mixChannels(lab, LAB_TO_F, LAB_TO_F_OFFSET);
    const xyz = tf.where(tf.greater(f, LAB_DELTA), tf.pow(f, 3), tf.mul(tf.sub(f, 4 / 29), 3 * LAB_DELTA ** 2)) as Tensor4D;
    const linear = tf.clipByValue(mixChannels(xyz, transpose3(XYZ_TO_RGB.map((row) => row.map((v, j) => v * WHITE_D65[j])))), 0, 1);
    const srgb = tf.where(
      tf.lessEqual(linear, 0.0031308),
      tf.mul(linear, 12.92),
      tf.sub(tf.mul(tf.pow(tf.maximum(linear, 0.0031308), 1 / 2.4), 1.055), 0.055),
    );
    return tf.clipByValue(srgb, 0, 1) as Tensor4D;
  });
}

/** The sRGB transfer curve undone: a channel value in [0, 1] to linear light. */
function srgbToLinear(c: number): number {
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** One sRGB colour (each in [0, 1]) to [L, a, b], in plain JavaScript doubles: the reference of rgbToLab. */
export function rgbToLabPixel(r: number, g: number, b: number): [number, number, number] {
  const linear = [r, g, b].map(srgbToLinear);
  const f = RGB_TO_XYZ.map((row, i) => {
    const t = (row[0] * linear[0] + row[1] * linear[1] + row[2] * linear[2]) / WHITE_D65[i];
    return t > LAB_DELTA ** 3 ? Math.cbrt(t) : t / (3 * LAB_DELTA ** 2) + 4 / 29;
  });
  return [116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])];
}

/** [L, a, b] back to sRGB in [0, 1] (clipped to the gamut), in plain JavaScript doubles: the inverse of rgbToLabPixel. */
export function labToRgbPixel(l: number, a: number, b: number): [number, number, number] {
  const fy = (l + 16) / 116;
  const xyz = [fy + a / 500, fy, fy - b / 200].map((t, i) => (t > LAB_DELTA ? t ** 3 : 3 * LAB_DELTA ** 2 * (t - 4 / 29)) * WHITE_D65[i]);
  return XYZ_TO_RGB.map((row) => {
    const linear = Math.min(1, Math.max(0, row[0] * xyz[0] + row[1] * xyz[1] + row[2] * xyz[2]));
    return Math.min(1, Math.max(0, linear <= 0.0031308 ? 12.92 * linear : 1.055 * linear ** (1 / 2.4) - 0.055));
  }) as [number, number, number];
}

/** sRGB colours have a in about [−86, 98] and b in about [−108, 95] (blue's b is the extreme). */
export const LAB_AB_EXTENT = 110;

/**
 * The ab bins of the sRGB gamut on a grid of `gridSize` (Zhang et al. sec. 2.1: "we quantize the ab output
 * space into bins with grid size 10"): bin centres at multiples of gridSize whose cell holds the ab of at
 * least one sRGB colour (a sweep of the RGB cube in steps of 1/127). Returns [a, b] pairs, a-major order.
 */
export function srgbGamutBins(gridSize = 10): [number, number][] {
  const cached = gamutBinsCache.get(gridSize);
  if (cached) return cached.map((bin) => [...bin] as [number, number]);
  const cells = new Set<string>();
  const steps = 127;
  // rgbToLabPixel inlined over a table of linearised channel values: the sweep makes 2 million colours.
  const linear = Array.from({ length: steps + 1 }, (_, i) => srgbToLinear(i / steps));
  const f = (t: number): number => (t > LAB_DELTA ** 3 ? Math.cbrt(t) : t / (3 * LAB_DELTA ** 2) + 4 / 29);
  for (const r of linear) {
    for (const g of linear) {
      for (const b of linear) {
        const fx = f((RGB_TO_XYZ[0][0] * r + RGB_TO_XYZ[0][1] * g + RGB_TO_XYZ[0][2] * b) / WHITE_D65[0]);
        const fy = f((RGB_TO_XYZ[1][0] * r + RGB_TO_XYZ[1][1] * g + RGB_TO_XYZ[1][2] * b) / WHITE_D65[1]);
        const fz = f((RGB_TO_XYZ[2][0] * r + RGB_TO_XYZ[2][1] * g + RGB_TO_XYZ[2][2] * b) / WHITE_D65[2]);
        cells.add(`${Math.round((500 * (fx - fy)) / gridSize)},${Math.round((200 * (fy - fz)) / gridSize)}`);
      }
    }
  }
  const bins = sortedBins([...cells].map((key) => key.split(',').map((v) => Number(v) * gridSize) as [number, number]));
  gamutBinsCache.set(gridSize, bins);
  return bins.map((bin) => [...bin] as [number, number]);
}

const gamutBinsCache = new Map<number, [number, number][]>();

function sortedBins(bins: [number, number][]): [number, number][] {
  return bins.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
}

/** The index of the nearest bin [Q, 2] of each ab value [M, 2] (hard quantisation). */
export function nearestAbBin(ab: Tensor2D, bins: Tensor2D): Tensor1D {
  return tf.tidy(() => tf.argMin(abSquaredDistances(ab, bins), 1) as Tensor1D);
}

/** ‖x_m − c_q‖² as [M, Q], by expanding the square (exact enough for ab values of a few hundred). */
export function abSquaredDistances(points: Tensor2D, centres: Tensor2D): Tensor2D {
  return tf.tidy(() => {
    const pp = tf.sum(tf.square(points), 1, true);
    const cc = tf.reshape(tf.sum(tf.square(centres), 1), [1, -1]);
    return tf.relu(tf.sub(tf.add(pp, cc), tf.mul(tf.matMul(points, centres, false, true), 2))) as Tensor2D;
  });
}
