import * as tf from '@tensorflow/tfjs-core';
import { SslError } from '../errors';
import type { Random } from '../random';
import { checkImages, checkProbability, checkRange, luma, perImage, selectPerImage } from './util';

/** clip(factor·x + (1-factor)·reference, 0, 1): the blend behind PIL's ImageEnhance and torchvision's adjust_*. */
function blend(images: tf.Tensor4D, reference: tf.Tensor, factor: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.clipByValue(tf.add(tf.mul(factor, images), tf.mul(tf.sub(1, factor), reference)), 0, 1) as tf.Tensor4D);
}

/** Multiplies by a per-image factor (1 = unchanged). */
export function adjustBrightness(images: tf.Tensor4D, factors: ArrayLike<number>): tf.Tensor4D {
  return tf.tidy(() => blend(images, tf.scalar(0), perImage(factors)));
}

/** Blends with the image's mean gray level (1 = unchanged, 0 = flat gray). */
export function adjustContrast(images: tf.Tensor4D, factors: ArrayLike<number>): tf.Tensor4D {
  return tf.tidy(() => blend(images, tf.mean(luma(images), [1, 2, 3], true), perImage(factors)));
}

/** Blends with the image's grayscale version (1 = unchanged, 0 = gray); identity on 1 channel. */
export function adjustSaturation(images: tf.Tensor4D, factors: ArrayLike<number>): tf.Tensor4D {
  if (images.shape[3] === 1) return images.clone();
  return tf.tidy(() => blend(images, luma(images), perImage(factors)));
}

/** RGB → HSV, each in [0, 1] (as torchvision's _rgb2hsv). */
export function rgbToHsv(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [r, g, b] = tf.split(images, 3, 3);
    const maxc = tf.maximum(tf.maximum(r, g), b);
    const minc = tf.minimum(tf.minimum(r, g), b);
    const chroma = tf.sub(maxc, minc);
    const gray = tf.equal(chroma, 0);
    const saturation = tf.where(tf.equal(maxc, 0), tf.zerosLike(maxc), tf.div(chroma, tf.maximum(maxc, 1e-12)));
    const safeChroma = tf.where(gray, tf.onesLike(chroma), chroma);
    const rc = tf.div(tf.sub(maxc, r), safeChroma);
    const gc = tf.div(tf.sub(maxc, g), safeChroma);
    const bc = tf.div(tf.sub(maxc, b), safeChroma);
    const isR = tf.equal(maxc, r);
    const isG = tf.logicalAnd(tf.equal(maxc, g), tf.logicalNot(isR));
    const hueR = tf.sub(bc, gc);
    const hueG = tf.add(2, tf.sub(rc, bc));
    const hueB = tf.add(4, tf.sub(gc, rc));
    let hue = tf.where(isR, hueR, tf.where(isG, hueG, hueB));
    hue = tf.where(gray, tf.zerosLike(hue), hue);
    hue = tf.div(hue, 6);
    hue = tf.sub(hue, tf.floor(hue)); // wrap into [0, 1)
    return tf.concat([hue, saturation, maxc], 3) as tf.Tensor4D;
  });
}

/** HSV → RGB (inverse of rgbToHsv). */
export function hsvToRgb(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [h, s, v] = tf.split(images, 3, 3);
    const h6 = tf.mul(h, 6);
    const sector = tf.floor(h6);
    const f = tf.sub(h6, sector);
    const sectorIndex = tf.mod(tf.cast(sector, 'int32'), 6);
    const p = tf.mul(v, tf.sub(1, s));
    const q = tf.mul(v, tf.sub(1, tf.mul(s, f)));
    const t = tf.mul(v, tf.sub(1, tf.mul(s, tf.sub(1, f))));
    const pick = (values: tf.Tensor[]) => {
      let out: tf.Tensor = values[5];
      for (let i = 4; i >= 0; i--) out = tf.where(tf.equal(sectorIndex, i), values[i], out);
      return out;
    };
    return tf.concat([pick([v, q, p, p, t, v]), pick([t, v, v, q, p, p]), pick([p, p, t, v, v, q])], 3) as tf.Tensor4D;
  });
}

/** Rotates the hue by a per-image shift in turns (0 = unchanged, ±0.5 = opposite hue); identity on 1 channel. */
export function adjustHue(images: tf.Tensor4D, shifts: ArrayLike<number>): tf.Tensor4D {
  if (images.shape[3] === 1) return images.clone();
  return tf.tidy(() => {
    const hsv = rgbToHsv(images);
    const [h, s, v] = tf.split(hsv, 3, 3);
    const shifted = tf.add(h, perImage(shifts));
    const wrapped = tf.sub(shifted, tf.floor(shifted));
    return hsvToRgb(tf.concat([wrapped, s, v], 3) as tf.Tensor4D);
  });
}

export interface ColorJitterOptions {
  /** Factor uniform in [max(0, 1-b), 1+b]. */
  brightness?: number;
  contrast?: number;
  saturation?: number;
  /** Shift uniform in [-hue, hue] turns, hue ≤ 0.5. */
  hue?: number;
  /** Probability of jittering an image at all (SimCLR: 0.8). */
  p?: number;
}

const JITTER_OPS = ['brightness', 'contrast', 'saturation', 'hue'] as const;

/**
 * torchvision's ColorJitter applied with probability p: brightness, contrast, saturation and hue
 * adjustments in an order drawn at random per image (SimCLR appendix A). Saturation and hue do
 * nothing on 1-channel images.
 */
export function colorJitter(images: tf.Tensor4D, rng: Random, options: ColorJitterOptions): tf.Tensor4D {
  checkImages(images, 'colorJitter');
  const strengths = {
    brightness: options.brightness ?? 0,
    contrast: options.contrast ?? 0,
    saturation: options.saturation ?? 0,
    hue: options.hue ?? 0,
  };
  const p = options.p ?? 1;
  checkProbability(p, 'colorJitter');
  for (const op of JITTER_OPS) {
    if (!(strengths[op] >= 0)) throw new SslError('invalid-config', `colorJitter: ${op} must be >= 0, got ${strengths[op]}.`);
  }
  if (strengths.hue > 0.5) throw new SslError('invalid-config', `colorJitter: hue must lie in [0, 0.5], got ${strengths.hue}.`);
  const n = images.shape[0];
  const channels = images.shape[3];
  // Draw every parameter for every image, used or not, so the random stream does not depend on the data.
  const order: Int32Array[] = [];
  const factors = {
    brightness: new Float32Array(n),
    contrast: new Float32Array(n),
    saturation: new Float32Array(n),
    hue: new Float32Array(n),
  };
  for (let i = 0; i < n; i++) {
    const applied = rng.bernoulli(p);
    order.push(rng.permutation(4));
    for (const op of JITTER_OPS) {
      const s = strengths[op];
      const value = op === 'hue' ? rng.uniform(-s, s) : rng.uniform(Math.max(0, 1 - s), 1 + s);
      factors[op][i] = applied ? value : op === 'hue' ? 0 : 1;
    }
  }
  const active = JITTER_OPS.filter((op) => strengths[op] > 0 && (channels === 3 || op === 'brightness' || op === 'contrast'));
  if (active.length === 0) return images.clone();
  return tf.tidy(() => {
    let x = images;
    for (let slot = 0; slot < 4; slot++) {
      // Each image runs exactly one op in this slot; brightness, contrast and saturation are all
      // blends with a reference (black, mean gray, gray image), so one blend serves all three.
      const alpha = new Float32Array(n).fill(1);
      const useMean = new Float32Array(n);
      const useGray = new Float32Array(n);
      const hueShift = new Float32Array(n);
      let anyBlend = false;
      let anyHue = false;
      for (let i = 0; i < n; i++) {
        const op = JITTER_OPS[order[i][slot]];
        if (!active.includes(op)) continue;
        if (op === 'hue') {
          hueShift[i] = factors.hue[i];
          anyHue ||= hueShift[i] !== 0;
          continue;
        }
        alpha[i] = factors[op][i];
        if (op === 'contrast') useMean[i] = 1;
        if (op === 'saturation') useGray[i] = 1;
        anyBlend ||= alpha[i] !== 1;
      }
      if (anyBlend) {
        const gray = luma(x);
        const reference = tf.add(tf.mul(perImage(useMean), tf.mean(gray, [1, 2, 3], true)), tf.mul(perImage(useGray), gray));
        x = blend(x, reference, perImage(alpha));
      }
      if (anyHue) x = adjustHue(x, hueShift);
    }
    return x === images ? images.clone() : x;
  });
}

/** Converts to gray (kept with the input's channel count) with probability p; identity on 1 channel. */
export function randomGrayscale(images: tf.Tensor4D, rng: Random, options: { p?: number } = {}): tf.Tensor4D {
  checkImages(images, 'randomGrayscale');
  const p = options.p ?? 0.2;
  checkProbability(p, 'randomGrayscale');
  const mask = Array.from({ length: images.shape[0] }, () => (rng.bernoulli(p) ? 1 : 0));
  if (images.shape[3] === 1) return images.clone();
  return tf.tidy(() => selectPerImage(perImage(mask), tf.tile(luma(images), [1, 1, 1, 3]) as tf.Tensor4D, images));
}

/** Odd kernel size ≈ 10% of the shorter side, at least 3 (SimCLR appendix A). */
export function defaultBlurKernelSize(height: number, width: number): number {
  const k = Math.round(0.1 * Math.min(height, width));
  return Math.max(3, k % 2 === 0 ? k + 1 : k);
}

/**
 * Gaussian blur with a per-image sigma (0 = unchanged), separable, reflect-padded as torchvision.
 * The batch is folded into the channel axis so one depthwise convolution applies every image's own kernel.
 */
export function gaussianBlurImages(images: tf.Tensor4D, sigmas: ArrayLike<number>, kernelSize?: number): tf.Tensor4D {
  checkImages(images, 'gaussianBlur');
  const [n, h, w, c] = images.shape;
  const k = kernelSize ?? defaultBlurKernelSize(h, w);
  if (!(Number.isInteger(k) && k % 2 === 1 && k >= 1))
    throw new SslError('invalid-config', `gaussianBlur: kernelSize must be a positive odd integer, got ${k}.`);
  const half = (k - 1) / 2;
  if (half === 0 || n === 0) return images.clone();
  if (half >= h || half >= w) throw new SslError('invalid-config', `gaussianBlur: kernelSize ${k} is too large for ${h}×${w} images.`);
  const weights = new Float32Array(k * n * c);
  for (let i = 0; i < n; i++) {
    const sigma = sigmas[i];
    const taps = new Float32Array(k);
    if (sigma > 0) {
      let total = 0;
      for (let t = 0; t < k; t++) {
        taps[t] = Math.exp(-((t - half) ** 2) / (2 * sigma * sigma));
        total += taps[t];
      }
      for (let t = 0; t < k; t++) taps[t] /= total;
    } else taps[half] = 1;
    for (let t = 0; t < k; t++) for (let ch = 0; ch < c; ch++) weights[t * n * c + i * c + ch] = taps[t];
  }
  return tf.tidy(() => {
    const folded = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, h, w, n * c]) as tf.Tensor4D;
    const padded = tf.mirrorPad(
      folded,
      [
        [0, 0],
        [half, half],
        [half, half],
        [0, 0],
      ],
      'reflect',
    );
    const vertical = tf.depthwiseConv2d(padded, tf.tensor4d(weights, [k, 1, n * c, 1]), 1, 'valid');
    const blurred = tf.depthwiseConv2d(vertical, tf.tensor4d(weights, [1, k, n * c, 1]), 1, 'valid');
    return tf.transpose(tf.reshape(blurred, [h, w, n, c]), [2, 0, 1, 3]) as tf.Tensor4D;
  });
}

/** Gaussian blur with probability p and sigma uniform in `sigma` (SimCLR: [0.1, 2.0], p = 0.5). */
export function gaussianBlur(
  images: tf.Tensor4D,
  rng: Random,
  options: { sigma?: [number, number]; kernelSize?: number; p?: number } = {},
): tf.Tensor4D {
  checkImages(images, 'gaussianBlur');
  const range = options.sigma ?? [0.1, 2.0];
  checkRange(range, 'gaussianBlur', 'sigma', 0);
  const p = options.p ?? 0.5;
  checkProbability(p, 'gaussianBlur');
  const sigmas = Array.from({ length: images.shape[0] }, () => {
    const sigma = rng.uniform(range[0], range[1]);
    return rng.bernoulli(p) ? sigma : 0;
  });
  return gaussianBlurImages(images, sigmas, options.kernelSize);
}

/** Inverts values at or above each image's threshold (a threshold above 1 leaves the image unchanged). */
export function solarizeImages(images: tf.Tensor4D, thresholds: ArrayLike<number>): tf.Tensor4D {
  return tf.tidy(() => tf.where(tf.greaterEqual(images, perImage(thresholds)), tf.sub(1, images), images) as tf.Tensor4D);
}

/** Solarize with probability p (BYOL: threshold 0.5, p 0.2 on the second view). */
export function solarize(images: tf.Tensor4D, rng: Random, options: { threshold?: number; p?: number } = {}): tf.Tensor4D {
  checkImages(images, 'solarize');
  const threshold = options.threshold ?? 0.5;
  const p = options.p ?? 1;
  checkProbability(p, 'solarize');
  const thresholds = Array.from({ length: images.shape[0] }, () => (rng.bernoulli(p) ? threshold : 2));
  return solarizeImages(images, thresholds);
}

/** Keeps the top `bits` bits of each 8-bit value (bits 1..8, per image). */
export function posterizeImages(images: tf.Tensor4D, bits: ArrayLike<number>): tf.Tensor4D {
  return tf.tidy(() => {
    const step = perImage(Array.from(bits, (b) => 2 ** (8 - Math.min(8, Math.max(1, Math.round(b))))));
    const bytes = tf.round(tf.mul(images, 255));
    return tf.div(tf.mul(tf.floor(tf.div(bytes, step)), step), 255) as tf.Tensor4D;
  });
}

/** Stretches each channel of each image to span [0, 1] (PIL ImageOps.autocontrast with no cutoff). */
export function autoContrast(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const low = tf.min(images, [1, 2], true);
    const high = tf.max(images, [1, 2], true);
    const range = tf.sub(high, low);
    const flat = tf.lessEqual(range, 1e-6);
    const stretched = tf.div(tf.sub(images, low), tf.where(flat, tf.onesLike(range), range));
    return tf.where(tf.broadcastTo(flat, images.shape), images, stretched) as tf.Tensor4D;
  });
}

/**
 * Histogram equalisation of each channel of each image on 8-bit levels, with PIL's
 * ImageOps.equalize lookup table: step = (pixels - count of the top level) // 255,
 * lut[v] = (step // 2 + #pixels below v) // step; identity when step is 0.
 */
export function equalize(images: tf.Tensor4D): tf.Tensor4D {
  checkImages(images, 'equalize');
  const [n, h, w, c] = images.shape;
  if (n === 0) return images.clone();
  return tf.tidy(() => {
    const levels = tf.cast(tf.round(tf.mul(images, 255)), 'int32');
    const rows = tf.reshape(tf.transpose(levels, [0, 3, 1, 2]), [n * c, h * w]) as tf.Tensor2D;
    const histogram = tf.cast(tf.denseBincount(rows, [], 256), 'int32') as tf.Tensor2D; // [n*c, 256]
    const top = tf.max(rows, 1, true);
    const topCount = tf.gather(histogram, top, 1, 1); // [n*c, 1]
    const step = tf.floorDiv(tf.sub(h * w, topCount), 255);
    const below = tf.cumsum(histogram, 1, true);
    const safeStep = tf.maximum(step, 1);
    const lut = tf.minimum(tf.floorDiv(tf.add(below, tf.floorDiv(step, 2)), safeStep), 255);
    const mapped = tf.gather(lut, rows, 1, 1); // [n*c, h*w]
    // Mixed number/int arithmetic above may have promoted to float32; select on one dtype.
    const equalized = tf.where(tf.broadcastTo(tf.equal(step, 0), mapped.shape), tf.cast(rows, 'float32'), tf.cast(mapped, 'float32'));
    const back = tf.transpose(tf.reshape(equalized, [n, c, h, w]), [0, 2, 3, 1]);
    return tf.div(back, 255) as tf.Tensor4D;
  });
}

/**
 * PIL ImageEnhance.Sharpness: blend with a smoothed copy (kernel [[1,1,1],[1,5,1],[1,1,1]]/13, border
 * pixels kept). Factor 1 = unchanged, 0 = smoothed, >1 = sharpened.
 */
export function adjustSharpness(images: tf.Tensor4D, factors: ArrayLike<number>): tf.Tensor4D {
  checkImages(images, 'sharpness');
  const [, h, w, c] = images.shape;
  if (h < 3 || w < 3) return images.clone();
  return tf.tidy(() => {
    const kernel = new Float32Array(9 * c);
    for (let t = 0; t < 9; t++) for (let ch = 0; ch < c; ch++) kernel[t * c + ch] = (t === 4 ? 5 : 1) / 13;
    const smooth = tf.depthwiseConv2d(images, tf.tensor4d(kernel, [3, 3, c, 1]), 1, 'valid');
    const degenerate = tf.pad(smooth, [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    const interior = tf.pad(tf.ones([1, h - 2, w - 2, 1]), [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    const reference = tf.add(tf.mul(interior, degenerate), tf.mul(tf.sub(1, interior), images));
    return blend(images, reference, perImage(factors));
  });
}

/** Per-channel (x - mean) / std; `mean`/`std` have one entry per channel or one for all. */
export function normalize(images: tf.Tensor4D, mean: readonly number[], std: readonly number[]): tf.Tensor4D {
  checkImages(images, 'normalize');
  const c = images.shape[3];
  for (const [field, values] of [
    ['mean', mean],
    ['std', std],
  ] as const) {
    if (values.length !== 1 && values.length !== c) {
      throw new SslError('invalid-config', `normalize: ${field} has ${values.length} entries for ${c}-channel images; give 1 or ${c}.`);
    }
  }
  if (std.some((s) => !(s > 0))) throw new SslError('invalid-config', `normalize: std must be positive, got ${JSON.stringify(std)}.`);
  return tf.tidy(() => tf.div(tf.sub(images, tf.tensor1d([...mean])), tf.tensor1d([...std])) as tf.Tensor4D);
}

/**
 * mixup (Zhang et al. 2018): λ·x1 + (1-λ)·x2 with one λ for the batch or one per image.
 * Works for any rank (images or one-hot targets) when λ is a number.
 */
export function mixup<T extends tf.Tensor>(x1: T, x2: T, lambda: number | ArrayLike<number>): T {
  if (x1.shape.join() !== x2.shape.join()) throw new SslError('shape-mismatch', `mixup: shapes [${x1.shape}] and [${x2.shape}] differ.`);
  return tf.tidy(() => {
    let weight: tf.Tensor;
    if (typeof lambda === 'number') weight = tf.scalar(lambda);
    else {
      if (lambda.length !== x1.shape[0])
        throw new SslError('shape-mismatch', `mixup: ${lambda.length} lambdas for a batch of ${x1.shape[0]}.`);
      weight = tf.tensor(Float32Array.from(lambda), [lambda.length, ...x1.shape.slice(1).map(() => 1)]);
    }
    return tf.add(tf.mul(weight, x1), tf.mul(tf.sub(1, weight), x2)) as T;
  });
}

/** Draws λ ~ Beta(alpha, alpha) as mixup does (Marsaglia-Tsang gamma sampling). */
export function sampleMixupLambda(rng: Random, alpha: number): number {
  if (!(alpha > 0)) throw new SslError('invalid-config', `mixup: alpha must be > 0, got ${alpha}.`);
  const a = sampleGamma(rng, alpha);
  const b = sampleGamma(rng, alpha);
  return a / (a + b);
}

function sampleGamma(rng: Random, shape: number): number {
  if (shape < 1) return sampleGamma(rng, shape + 1) * Math.pow(1 - rng.next(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}
