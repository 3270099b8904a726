import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random } from '../random';
import { labToRgb, labToRgbPixel, mixChannels, nearestAbBin, rgbToLab, rgbToLabPixel, srgbGamutBins } from './lab';

beforeAll(async () => {
  await tf.setBackend('cpu');
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

describe('labToRgbPixel', () => {
  it('inverts rgbToLabPixel within 1e-6', () => {
    const random = new Random(11);
    for (let i = 0; i < 200; i++) {
      const rgb = [random.uniform(), random.uniform(), random.uniform()];
      labToRgbPixel(...rgbToLabPixel(rgb[0], rgb[1], rgb[2])).forEach((value, c) => expect(Math.abs(value - rgb[c])).toBeLessThan(1e-6));
    }
  });
});

describe('srgbGamutBins', () => {
  it('srgbGamutBins: the grid-10 bins that sRGB colours reach', () => {
    const bins = srgbGamutBins(10);
    expect(bins.length).toBe(262);
    expect(bins).toContainEqual([0, 0]);
    expect(bins).toContainEqual([80, 70]); // red (80.1, 67.2)
    expect(bins).toContainEqual([80, -110]); // blue (79.2, −107.9)
    expect(bins).not.toContainEqual([-100, -100]);
    for (const [a, b] of bins) expect(a % 10 === 0 && b % 10 === 0).toBe(true);
  });
});

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
