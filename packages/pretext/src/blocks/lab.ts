import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, invalidConfig } from '@ssl/core';

/**
 * CIE L*a*b* (D65 white, sRGB primaries and transfer curve, as skimage.color.rgb2lab which Zhang et al.'s
 * colorization code uses) and the quantisation of its ab plane into bins. L lies in [0, 100]; a and b in
 * about [−110, 110] for sRGB colours.
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

/** sRGB colours have a in about [−86, 98] and b in about [−108, 95] (blue's b is the extreme). */
const AB_EXTENT = 110;

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

/**
 * The bins the ab values of a set of RGB images (bytes, NHWC, 3 channels) fall in, on a grid of `gridSize`
 * (nearest centre), with their pixel counts: the paper's "in-gamut" bins computed from the training data
 * (its 313 come from ImageNet). Returns the bins (a-major order) and counts aligned with them.
 */
export function abBinsOfImages(images: Uint8Array, gridSize = 10): { bins: [number, number][]; counts: number[] } {
  if (images.length % 3 !== 0) throw new SslError('shape-mismatch', `abBinsOfImages: ${images.length} bytes are not whole RGB pixels.`);
  const cache = new Map<number, string>();
  const counts = new Map<string, number>();
  for (let p = 0; p < images.length; p += 3) {
    const code = (images[p] << 16) | (images[p + 1] << 8) | images[p + 2];
    let key = cache.get(code);
    if (key === undefined) {
      const [, a, b] = rgbToLabPixel(images[p] / 255, images[p + 1] / 255, images[p + 2] / 255);
      key = `${Math.round(a / gridSize)},${Math.round(b / gridSize)}`;
      cache.set(code, key);
    }
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const bins = sortedBins([...counts.keys()].map((key) => key.split(',').map((v) => Number(v) * gridSize) as [number, number]));
  return { bins, counts: bins.map(([a, b]) => counts.get(`${a / gridSize},${b / gridSize}`)!) };
}

export function validateAbBins(bins: readonly (readonly number[])[], field = 'bins'): void {
  if (!Array.isArray(bins) || bins.length < 2) invalidConfig(field, bins, 'at least two [a, b] bin centres');
  for (const bin of bins) {
    if (!Array.isArray(bin) || bin.length !== 2 || !bin.every((v) => Number.isFinite(v) && Math.abs(v) <= 2 * AB_EXTENT)) {
      invalidConfig(field, bins, `[a, b] pairs of finite numbers within ±${2 * AB_EXTENT}`);
    }
  }
}

export interface SoftEncodingOptions {
  /** Nearest bins that share each target. Default 5 (the paper). */
  neighbours?: number;
  /** Width of the Gaussian kernel on the distance to each of them. Default 5 (the paper). */
  sigma?: number;
}

/**
 * Soft-encoding of ab targets (Zhang et al. sec. 2.1): each ab value [M, 2] is spread over its `neighbours`
 * nearest bins [Q, 2], weighted by exp(−d²/2σ²) and normalised to sum 1. Returns Z [M, Q].
 *
 * Computed on the host: the k nearest of Q bins for a few thousand positions is a few million multiply-adds in
 * a plain loop, where the tensor route (a distance matrix, top-k, exp and a scatter over [M, Q]) took 10× longer
 * on the wasm backend. Targets need no gradient.
 */
export function softEncodeAb(ab: Tensor2D, bins: Tensor2D, options: SoftEncodingOptions = {}): Tensor2D {
  const neighbours = options.neighbours ?? 5;
  const sigma = options.sigma ?? 5;
  const q = bins.shape[0];
  if (ab.rank !== 2 || ab.shape[1] !== 2 || bins.rank !== 2 || bins.shape[1] !== 2) {
    throw new SslError(
      'shape-mismatch',
      `softEncodeAb: expected ab [M, 2] and bins [Q, 2], got ${formatShape(ab.shape)} and ${formatShape(bins.shape)}.`,
    );
  }
  if (!(Number.isInteger(neighbours) && neighbours >= 1 && neighbours <= q))
    invalidConfig('neighbours', neighbours, `an integer in 1..${q} (the bins)`);
  const points = ab.dataSync();
  const centres = bins.dataSync();
  const m = ab.shape[0];
  const encoded = new Float32Array(m * q);
  const nearest = new Int32Array(neighbours);
  const distances = new Float64Array(neighbours);
  for (let i = 0; i < m; i++) {
    const a = points[2 * i];
    const b = points[2 * i + 1];
    let found = 0;
    for (let c = 0; c < q; c++) {
      const d2 = (a - centres[2 * c]) ** 2 + (b - centres[2 * c + 1]) ** 2;
      if (found === neighbours && d2 >= distances[neighbours - 1]) continue;
      // Insertion into the sorted list of the nearest so far (ties keep the lower bin index first).
      let slot = found < neighbours ? found++ : neighbours - 1;
      while (slot > 0 && distances[slot - 1] > d2) {
        distances[slot] = distances[slot - 1];
        nearest[slot] = nearest[slot - 1];
        slot--;
      }
      distances[slot] = d2;
      nearest[slot] = c;
    }
    let total = 0;
    // Relative to the nearest distance, so that a far-off target does not underflow to 0/0.
    for (let k = 0; k < neighbours; k++) total += Math.exp((distances[0] - distances[k]) / (2 * sigma * sigma));
    for (let k = 0; k < neighbours; k++)
      encoded[i * q + nearest[k]] = Math.exp((distances[0] - distances[k]) / (2 * sigma * sigma)) / total;
  }
  return tf.tensor2d(encoded, [m, q]);
}

/** The index of the nearest bin [Q, 2] of each ab value [M, 2] (hard quantisation). */
export function nearestAbBin(ab: Tensor2D, bins: Tensor2D): Tensor1D {
  return tf.tidy(() => tf.argMin(squaredDistances(ab, bins), 1) as Tensor1D);
}

/** ‖x_m − c_q‖² as [M, Q], by expanding the square (exact enough for ab values of a few hundred). */
function squaredDistances(points: Tensor2D, centres: Tensor2D): Tensor2D {
  return tf.tidy(() => {
    const pp = tf.sum(tf.square(points), 1, true);
    const cc = tf.reshape(tf.sum(tf.square(centres), 1), [1, -1]);
    return tf.relu(tf.sub(tf.add(pp, cc), tf.mul(tf.matMul(points, centres, false, true), 2))) as Tensor2D;
  });
}

export interface RebalancingOptions {
  /** Mix of the smoothed prior with the uniform distribution, λ in the paper's eq. 4. Default 0.5. */
  lambda?: number;
  /** Width of the Gaussian that smooths the empirical prior over the ab plane. Default 5. */
  sigma?: number;
}

/**
 * Class-rebalancing weights (Zhang et al. eq. 3-4): w ∝ ((1 − λ)·p̃ + λ/Q)^−1 with p̃ the empirical
 * distribution of the bins `prior` [Q] smoothed by a Gaussian of width σ over the bin centres [Q, 2],
 * normalised so that the expected weight under p̃ is 1: Σ_q p̃_q w_q = 1. `prior` may be raw counts.
 */
export function rebalancingWeights(prior: Tensor1D, bins: Tensor2D, options: RebalancingOptions = {}): Tensor1D {
  const lambda = options.lambda ?? 0.5;
  const sigma = options.sigma ?? 5;
  const q = bins.shape[0];
  if (prior.rank !== 1 || prior.shape[0] !== q) {
    throw new SslError('shape-mismatch', `rebalancingWeights: prior ${formatShape(prior.shape)} does not match ${q} bins.`);
  }
  return tf.tidy(() => {
    const smoothed = smoothPrior(prior, bins, sigma);
    const inverse = tf.reciprocal(tf.add(tf.mul(smoothed, 1 - lambda), lambda / q));
    return tf.div(inverse, tf.sum(tf.mul(smoothed, inverse))) as Tensor1D;
  });
}

/** p̃: the normalised `prior` convolved with a Gaussian of width σ over the bin centres, renormalised to sum 1. */
export function smoothPrior(prior: Tensor1D, bins: Tensor2D, sigma = 5): Tensor1D {
  return tf.tidy(() => {
    const kernel = tf.exp(tf.div(tf.neg(squaredDistances(bins, bins)), 2 * sigma * sigma));
    const p = tf.div(prior, tf.maximum(tf.sum(prior), 1e-12));
    const smoothed = tf.squeeze(tf.matMul(kernel, tf.reshape(p, [-1, 1])), [1]);
    return tf.div(smoothed, tf.sum(smoothed)) as Tensor1D;
  });
}

/**
 * The rebalanced multinomial cross-entropy (Zhang et al. eq. 2): −Σ v(Z_m) Σ_q Z_m,q log Ẑ_m,q, with
 * Ẑ = softmax(logits) [M, Q], soft targets Z [M, Q], and v(Z_m) = w[argmax_q Z_m,q] the rebalancing weight
 * of the pixel's most likely bin (`weights` [Q]; omit for v = 1). Averaged over the M pixels (the paper sums).
 */
export function colorizationLoss(logits: Tensor2D, targets: Tensor2D, weights?: Tensor1D): tf.Scalar {
  if (logits.rank !== 2 || targets.rank !== 2 || logits.shape[0] !== targets.shape[0] || logits.shape[1] !== targets.shape[1]) {
    throw new SslError(
      'shape-mismatch',
      `colorizationLoss: logits ${formatShape(logits.shape)} and targets ${formatShape(targets.shape)} must both be [M, Q].`,
    );
  }
  return tf.tidy(() => {
    const perPixel = tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1));
    if (!weights) return tf.mean(perPixel) as tf.Scalar;
    const pixelWeights = tf.gather(weights, tf.argMax(targets, 1));
    return tf.mean(tf.mul(perPixel, pixelWeights)) as tf.Scalar;
  });
}

/**
 * The annealed-mean read-out (Zhang et al. eq. 5): H(Z) = Σ_q f_T(Z)_q·c_q with f_T(z) = exp(log z/T) / Σ
 * exp(log z/T). From logits, log z = logits − logsumexp, so f_T = softmax(logits/T). T = 1 is the mean of the
 * distribution, T → 0 its mode; the paper's T = 0.38 keeps the vibrancy of the mode and the smoothness of the
 * mean. Returns ab [M, 2].
 */
export function annealedMeanAb(logits: Tensor2D, bins: Tensor2D, temperature = 0.38): Tensor2D {
  if (!(temperature > 0)) invalidConfig('temperature', temperature, 'a number > 0');
  return tf.tidy(() => tf.matMul(tf.softmax(tf.div(logits, temperature)), bins) as Tensor2D);
}
