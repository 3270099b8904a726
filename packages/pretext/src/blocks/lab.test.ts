import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, initBackend } from '@ssl/core';
import {
  abBinsOfImages,
  annealedMeanAb,
  colorizationLoss,
  labToRgb,
  mixChannels,
  nearestAbBin,
  rebalancingWeights,
  rgbToLab,
  rgbToLabPixel,
  smoothPrior,
  softEncodeAb,
  srgbGamutBins,
} from './lab';

beforeAll(async () => {
  await initBackend({ backend: 'cpu', log: () => {} });
});

function randomColours(random: Random, n: number): Float32Array {
  return Float32Array.from({ length: n * 3 }, () => random.uniform());
}

describe('Lab conversion', () => {
  it('matches the published Lab of sRGB primaries and white (D65)', () => {
    // skimage.color.rgb2lab of pure red, blue and white.
    const [red, blue, white] = [rgbToLabPixel(1, 0, 0), rgbToLabPixel(0, 0, 1), rgbToLabPixel(1, 1, 1)];
    [53.2408, 80.0925, 67.2032].forEach((v, i) => expect(red[i]).toBeCloseTo(v, 2));
    [32.297, 79.1875, -107.8602].forEach((v, i) => expect(blue[i]).toBeCloseTo(v, 1));
    [100, 0, 0].forEach((v, i) => expect(white[i]).toBeCloseTo(v, 2));
  });

  it('rgbToLab agrees with the per-pixel reference', () => {
    const colours = randomColours(new Random(1), 200);
    const lab = rgbToLab(tf.tensor4d(colours, [2, 10, 10, 3]));
    const values = lab.dataSync();
    for (let p = 0; p < 200; p++) {
      const reference = rgbToLabPixel(colours[3 * p], colours[3 * p + 1], colours[3 * p + 2]);
      for (let c = 0; c < 3; c++) expect(Math.abs(values[3 * p + c] - reference[c])).toBeLessThan(2e-3);
    }
    lab.dispose();
  });

  it('round-trips RGB → Lab → RGB within 1e-4', () => {
    const random = new Random(2);
    // Random colours plus the corners of the cube and values on both sides of the sRGB curve's knee.
    const corners = [0, 1].flatMap((r) => [0, 1].flatMap((g) => [0, 1].flatMap((b) => [r, g, b])));
    const colours = Float32Array.from([
      ...randomColours(random, 992),
      ...corners,
      ...[0.03, 0.04, 0.05, 0.0404, 0.0406, 0.002, 0.5, 0.99, 0.7],
    ]);
    const rgb = tf.tensor4d(colours, [1, 1, colours.length / 3, 3]);
    const back = tf.tidy(() => labToRgb(rgbToLab(rgb)));
    const values = back.dataSync();
    let worst = 0;
    for (let i = 0; i < colours.length; i++) worst = Math.max(worst, Math.abs(values[i] - colours[i]));
    expect(worst).toBeLessThan(1e-4);
    tf.dispose([rgb, back]);
  });
});

describe('ab bins', () => {
  it('srgbGamutBins: the grid-10 bins that sRGB colours reach', () => {
    const bins = srgbGamutBins(10);
    expect(bins.length).toBe(262);
    expect(bins).toContainEqual([0, 0]);
    expect(bins).toContainEqual([80, 70]); // red (80.1, 67.2)
    expect(bins).toContainEqual([80, -110]); // blue (79.2, −107.9)
    expect(bins).not.toContainEqual([-100, -100]);
    for (const [a, b] of bins) expect(a % 10 === 0 && b % 10 === 0).toBe(true);
  });

  it('abBinsOfImages: the nearest bin of every pixel, with counts', () => {
    // white, white, red, blue
    const images = Uint8Array.from([255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 255]);
    expect(abBinsOfImages(images)).toEqual({
      bins: [
        [0, 0],
        [80, -110],
        [80, 70],
      ],
      counts: [2, 1, 1],
    });
  });
});

/** Plain-loop soft encoding: the k nearest bins of each point, Gaussian weights, normalised. */
function softEncodeReference(ab: number[][], bins: number[][], k: number, sigma: number): number[][] {
  return ab.map(([a, b]) => {
    const distances = bins.map(([ba, bb], q) => ({ q, d2: (a - ba) ** 2 + (b - bb) ** 2 }));
    distances.sort((x, y) => x.d2 - y.d2);
    const row = new Array<number>(bins.length).fill(0);
    let total = 0;
    for (const { q, d2 } of distances.slice(0, k)) {
      row[q] = Math.exp(-d2 / (2 * sigma * sigma));
      total += row[q];
    }
    return row.map((v) => v / total);
  });
}

describe('softEncodeAb', () => {
  it('spreads each target over its 5 nearest bins with Gaussian weights (σ 5), as the plain loop', () => {
    const random = new Random(3);
    const bins = srgbGamutBins(10);
    const ab = Array.from({ length: 40 }, () => [random.uniform(-80, 80), random.uniform(-80, 80)]);
    const encoded = softEncodeAb(tf.tensor2d(ab), tf.tensor2d(bins));
    const reference = softEncodeReference(ab, bins, 5, 5);
    const values = encoded.arraySync();
    for (let m = 0; m < ab.length; m++) {
      for (let q = 0; q < bins.length; q++) expect(values[m][q]).toBeCloseTo(reference[m][q], 4);
      expect(values[m].filter((v) => v > 0).length).toBe(5);
    }
    encoded.dispose();
  });
});

/** Plain-loop eq. 3-4: smooth the prior with a Gaussian over the bin centres, mix with uniform, invert, normalise. */
function rebalancingReference(
  counts: number[],
  bins: number[][],
  lambda: number,
  sigma: number,
): { smoothed: number[]; weights: number[] } {
  const total = counts.reduce((x, y) => x + y, 0);
  const p = counts.map((c) => c / total);
  const smoothedRaw = bins.map(([a, b]) =>
    bins.reduce((sum, [ba, bb], j) => sum + p[j] * Math.exp(-((a - ba) ** 2 + (b - bb) ** 2) / (2 * sigma * sigma)), 0),
  );
  const norm = smoothedRaw.reduce((x, y) => x + y, 0);
  const smoothed = smoothedRaw.map((v) => v / norm);
  const inverse = smoothed.map((v) => 1 / ((1 - lambda) * v + lambda / bins.length));
  const expectation = smoothed.reduce((sum, v, q) => sum + v * inverse[q], 0);
  return { smoothed, weights: inverse.map((w) => w / expectation) };
}

describe('nearestAbBin', () => {
  it('is the bin at the smallest distance (plain loop)', () => {
    const random = new Random(6);
    const bins = srgbGamutBins(10);
    const ab = Array.from({ length: 50 }, () => [random.uniform(-90, 90), random.uniform(-100, 90)]);
    const nearest = Array.from(nearestAbBin(tf.tensor2d(ab), tf.tensor2d(bins)).dataSync());
    ab.forEach(([a, b], m) => {
      const distances = bins.map(([ba, bb]) => (a - ba) ** 2 + (b - bb) ** 2);
      expect(distances[nearest[m]]).toBeCloseTo(Math.min(...distances), 3);
    });
  });
});

describe('mixChannels', () => {
  it('is out_j = Σ_i x_i·mix[i][j] + offset_j per pixel (plain loop)', () => {
    const random = new Random(7);
    const values = Array.from({ length: 2 * 3 * 2 * 3 }, () => random.normal());
    const mix = [
      [1, 0.5],
      [-2, 0],
      [0.25, 3],
    ];
    const out = mixChannels(tf.tensor4d(values, [2, 3, 2, 3]), mix, [0.1, -1]);
    expect(out.shape).toEqual([2, 3, 2, 2]);
    const got = out.dataSync();
    for (let p = 0; p < 12; p++) {
      for (let j = 0; j < 2; j++) {
        const expected = [0, 1, 2].reduce((sum, i) => sum + values[3 * p + i] * mix[i][j], j === 0 ? 0.1 : -1);
        expect(got[2 * p + j]).toBeCloseTo(expected, 5);
      }
    }
  });
});

describe('rebalancingWeights', () => {
  it('is ((1 − λ)·p̃ + λ/Q)^−1 with p̃ the σ-smoothed prior, normalised to E_p̃[w] = 1 (plain loop)', () => {
    const random = new Random(4);
    const bins = srgbGamutBins(10).slice(100, 140);
    const counts = bins.map((_, q) => (q % 7 === 0 ? 500 : random.int(20)));
    const prior = tf.tensor1d(counts);
    const binTensor = tf.tensor2d(bins);
    const weights = rebalancingWeights(prior, binTensor, { lambda: 0.5, sigma: 5 }).dataSync();
    const smoothed = smoothPrior(prior, binTensor, 5).dataSync();
    const reference = rebalancingReference(counts, bins, 0.5, 5);
    bins.forEach((_, q) => {
      expect(smoothed[q]).toBeCloseTo(reference.smoothed[q], 5);
      expect(weights[q]).toBeCloseTo(reference.weights[q], 4);
    });
    expect(reference.smoothed.reduce((sum, v, q) => sum + v * weights[q], 0)).toBeCloseTo(1, 5);
    // Common colours are down-weighted, rare ones up-weighted.
    const common = counts.indexOf(500);
    const rare = counts.indexOf(Math.min(...counts));
    expect(weights[common]).toBeLessThan(1);
    expect(weights[rare]).toBeGreaterThan(1);
    tf.dispose([prior, binTensor]);
  });

  it('λ = 1 gives equal weights', () => {
    const bins = tf.tensor2d(srgbGamutBins(10).slice(0, 10));
    const weights = rebalancingWeights(tf.tensor1d([9, 1, 0, 0, 3, 0, 0, 0, 0, 50]), bins, { lambda: 1 }).dataSync();
    for (const w of weights) expect(w).toBeCloseTo(1, 5);
  });
});

describe('colorizationLoss', () => {
  const random = new Random(5);
  const m = 6;
  const q = 7;
  const logitValues = Array.from({ length: m }, () => Array.from({ length: q }, () => random.normal()));
  const targetValues = Array.from({ length: m }, () => {
    const row = Array.from({ length: q }, () => random.uniform());
    const total = row.reduce((x, y) => x + y, 0);
    return row.map((v) => v / total);
  });
  const weightValues = Array.from({ length: q }, () => random.uniform(0.2, 3));

  /** Plain-loop eq. 2, averaged over pixels: −v(Z_m) Σ_q Z_m,q log softmax(logits_m)_q. */
  function reference(weights?: number[]): number {
    let total = 0;
    for (let i = 0; i < m; i++) {
      const max = Math.max(...logitValues[i]);
      const logSum = Math.log(logitValues[i].reduce((sum, v) => sum + Math.exp(v - max), 0)) + max;
      const crossEntropy = -targetValues[i].reduce((sum, z, k) => sum + z * (logitValues[i][k] - logSum), 0);
      const mode = targetValues[i].indexOf(Math.max(...targetValues[i]));
      total += (weights ? weights[mode] : 1) * crossEntropy;
    }
    return total / m;
  }

  it('matches the plain loop with and without rebalancing weights', () => {
    const logits = tf.tensor2d(logitValues);
    const targets = tf.tensor2d(targetValues);
    expect(colorizationLoss(logits, targets).dataSync()[0]).toBeCloseTo(reference(), 5);
    expect(colorizationLoss(logits, targets, tf.tensor1d(weightValues)).dataSync()[0]).toBeCloseTo(reference(weightValues), 5);
  });

  it('has the gradient of central finite differences', () => {
    const targets = tf.tensor2d(targetValues);
    const weights = tf.tensor1d(weightValues);
    const loss = (logits: tf.Tensor): tf.Scalar => colorizationLoss(logits as Tensor2D, targets, weights);
    const gradient = tf.grad(loss)(tf.tensor2d(logitValues)).arraySync() as number[][];
    const step = 1e-3;
    for (const [i, k] of [
      [0, 0],
      [2, 3],
      [5, 6],
    ]) {
      const original = logitValues[i][k];
      logitValues[i][k] = original + step;
      const up = reference(weightValues);
      logitValues[i][k] = original - step;
      const down = reference(weightValues);
      logitValues[i][k] = original;
      expect(gradient[i][k]).toBeCloseTo((up - down) / (2 * step), 3);
    }
  });

  it('falls under a few optimizer steps towards the targets', () => {
    const targets = tf.tensor2d(targetValues);
    const logits = tf.variable(tf.zeros([m, q]));
    const optimizer = tf.train.adam(0.1);
    const before = colorizationLoss(logits as unknown as Tensor2D, targets).dataSync()[0];
    for (let s = 0; s < 20; s++) optimizer.minimize(() => colorizationLoss(logits as unknown as Tensor2D, targets));
    expect(colorizationLoss(logits as unknown as Tensor2D, targets).dataSync()[0]).toBeLessThan(before - 0.05);
  });
});

describe('annealedMeanAb', () => {
  it('is Σ_q f_T(z)_q·c_q with f_T(z) ∝ exp(log z / T) (plain loop), the mean at T = 1 and near the mode at small T', () => {
    const bins = [
      [0, 0],
      [40, 10],
      [-20, 60],
    ];
    const logits = [[0.2, 1.5, -0.3]];
    const z = logits[0].map(Math.exp);
    const zSum = z.reduce((x, y) => x + y, 0);
    const probabilities = z.map((v) => v / zSum);
    for (const temperature of [1, 0.38, 0.05]) {
      const annealed = probabilities.map((p) => Math.exp(Math.log(p) / temperature));
      const total = annealed.reduce((x, y) => x + y, 0);
      const expected = [0, 1].map((c) => annealed.reduce((sum, f, q) => sum + (f / total) * bins[q][c], 0));
      const ab = annealedMeanAb(tf.tensor2d(logits), tf.tensor2d(bins), temperature).dataSync();
      expect(ab[0]).toBeCloseTo(expected[0], 4);
      expect(ab[1]).toBeCloseTo(expected[1], 4);
    }
    const mode = annealedMeanAb(tf.tensor2d(logits), tf.tensor2d(bins), 0.01).dataSync();
    expect(mode[0]).toBeCloseTo(40, 2);
    expect(() => annealedMeanAb(tf.tensor2d(logits), tf.tensor2d(bins), 0)).toThrow(/temperature/);
  });
});
