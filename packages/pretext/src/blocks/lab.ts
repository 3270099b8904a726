import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { LAB_AB_EXTENT, SslError, abSquaredDistances, formatShape, invalidConfig, rgbToLabPixel } from '@ssl/core';

/** The colorization blocks over core's CIE L*a*b* (`rgbToLab`, `srgbGamutBins`, `nearestAbBin`, ...). */

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
  const bins = [...counts.keys()]
    .map((key) => key.split(',').map((v) => Number(v) * gridSize) as [number, number])
    .sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  return { bins, counts: bins.map(([a, b]) => counts.get(`${a / gridSize},${b / gridSize}`)!) };
}

export function validateAbBins(bins: readonly (readonly number[])[], field = 'bins'): void {
  if (!Array.isArray(bins) || bins.length < 2) invalidConfig(field, bins, 'at least two [a, b] bin centres');
  for (const bin of bins) {
    if (!Array.isArray(bin) || bin.length !== 2 || !bin.every((v) => Number.isFinite(v) && Math.abs(v) <= 2 * LAB_AB_EXTENT)) {
      invalidConfig(field, bins, `[a, b] pairs of finite numbers within ±${2 * LAB_AB_EXTENT}`);
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
    const kernel = tf.exp(tf.div(tf.neg(abSquaredDistances(bins, bins)), 2 * sigma * sigma));
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
