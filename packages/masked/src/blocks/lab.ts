import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D } from '@tensorflow/tfjs-core';
import { LAB_AB_EXTENT, labToRgbPixel, nearestAbBin, rgbToLab, rgbToLabPixel, srgbGamutBins } from '@ssl/core';

/**
 * CIE L*a*b* for split-brain: core's conversion (D65, sRGB, as skimage's rgb2lab that Zhang et al.'s code uses)
 * and its in-gamut ab bins, under the names this package exported first, plus the quantisation of L.
 */
export { labToRgbPixel, nearestAbBin, rgbToLab, rgbToLabPixel };

/** How far a and b reach for sRGB colours (core's LAB_AB_EXTENT, 110): ab/110 is the ab sub-network's input. */
export const AB_RANGE = LAB_AB_EXTENT;

/**
 * The ab bins of the sRGB gamut on a grid of side `gridSize` (Zhang et al. 2016, Sec. 2.1: grid size 10 gives 313
 * bins on ImageNet's colours; the sRGB cube reaches a few less): core's `srgbGamutBins`. Returns [Q, 2].
 */
export function abGamutBins(gridSize = 10): [number, number][] {
  return srgbGamutBins(gridSize);
}

/** Bin index [P] (int32) of each lightness L [P] in [0, 100]: `lightnessBins` equal bins (the last closed). */
export function lightnessBin(lightness: Tensor1D, lightnessBins: number): Tensor1D {
  return tf.tidy(
    () => tf.cast(tf.clipByValue(tf.floor(tf.mul(lightness, lightnessBins / 100)), 0, lightnessBins - 1), 'int32') as Tensor1D,
  );
}
