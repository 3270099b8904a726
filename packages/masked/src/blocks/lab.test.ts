import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Random, expectClose, useCpuBackend } from '@ssl/test-utils';
import { abGamutBins, labToRgbPixel, lightnessBin, nearestAbBin, rgbToLab, rgbToLabPixel } from './lab';

describe('Lab conversion and bins', () => {
  beforeAll(useCpuBackend);

  it('gives the CIE values of reference colours (skimage rgb2lab, D65)', () => {
    // White and grey are neutral up to the rounding of the matrix (|a|, |b| < 0.01), as in skimage.
    expectClose(rgbToLabPixel(1, 1, 1), [100, 0, 0], { absolute: 1e-2 });
    expectClose(rgbToLabPixel(0, 0, 0), [0, 0, 0], { absolute: 1e-9 });
    expectClose(rgbToLabPixel(1, 0, 0), [53.2408, 80.0925, 67.2032], { absolute: 2e-3 });
    expectClose(rgbToLabPixel(0, 0, 1), [32.297, 79.1875, -107.8602], { absolute: 2e-3 });
    expectClose(rgbToLabPixel(0.5, 0.5, 0.5), [53.3851, 0, 0], { absolute: 1e-2 });
  });

  it('round-trips sRGB → Lab → sRGB, and the tensor version equals the float64 one', () => {
    const rng = new Random(3);
    const colours = Array.from({ length: 50 }, () => [rng.next(), rng.next(), rng.next()] as [number, number, number]);
    for (const [r, g, b] of colours) expectClose(labToRgbPixel(...rgbToLabPixel(r, g, b)), [r, g, b], { absolute: 1e-6 });
    const lab = tf.tidy(() => rgbToLab(tf.tensor4d(colours.flat(), [1, 5, 10, 3])).dataSync());
    expectClose(
      lab,
      colours.flatMap((c) => rgbToLabPixel(...c)),
      { absolute: 2e-3 },
    );
  });

  it('quantises: in-gamut ab bins on a grid of 10 (fewer than the paper’s 313 of ImageNet), nearest bin, L bins', () => {
    const bins = abGamutBins(10);
    expect(bins.length).toBeGreaterThan(200);
    expect(bins.length).toBeLessThanOrEqual(313);
    // Grey (0, 0) and pure red's ab (80, 67 → 80, 70) are bins; a far-off (−100, 100) is not (no sRGB colour).
    const has = (a: number, b: number) => bins.some(([x, y]) => x === a && y === b);
    expect(has(0, 0) && has(80, 70)).toBe(true);
    expect(has(-100, 100)).toBe(false);
    const nearest = tf.tidy(() =>
      nearestAbBin(
        tf.tensor2d([
          [0.4, -3],
          [78, 66],
        ]),
        tf.tensor2d(bins),
      ).dataSync(),
    );
    expect(bins[nearest[0]]).toEqual([0, 0]);
    expect(bins[nearest[1]]).toEqual([80, 70]);
    expect(Array.from(tf.tidy(() => lightnessBin(tf.tensor1d([0, 1.99, 2, 50, 99.9, 100]), 50).dataSync()))).toEqual([0, 0, 1, 25, 49, 49]);
  });
});
