import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, initBackend, srgbGamutBins } from '@ssl/core';
import { abBinsOfImages, annealedMeanAb, colorizationLoss, rebalancingWeights, smoothPrior, softEncodeAb } from './lab';

beforeAll(async () => {
  await initBackend({ backend: 'cpu', log: () => {} });
});

describe('ab bins', () => {
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
