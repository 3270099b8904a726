import { colorJitterOp, defineViewPolicy } from '@ssl/core';
import type { ViewSpec } from '@ssl/core';

export interface SimclrViewOptions {
  size?: [number, number];
  /** SimCLR: (0.08, 1); small grayscale images often do better with (0.2, 1) or more. */
  cropScale?: [number, number];
  cropRatio?: [number, number];
  flipP?: number;
  /**
   * SimCLR's colour-distortion strength s (appendix A): brightness, contrast and saturation 0.8·s, hue 0.2·s.
   * Default 1, the paper's ImageNet setting; s = 0.5 gives (0.4, 0.4, 0.4, 0.1), MoCo v2's and BYOL's jitter.
   */
  colorJitterStrength?: number;
  jitterP?: number;
  grayscaleP?: number;
  blurP?: number;
  blurSigma?: [number, number];
}

/** The options every SimCLR-family recipe shares, and their rules. */
export const SIMCLR_VIEW_OPTION_RULES = {
  size: 'size',
  cropScale: 'cropScale',
  cropRatio: 'positiveRange',
  flipP: 'probability',
  colorJitterStrength: 'nonNegative',
  jitterP: 'probability',
  grayscaleP: 'probability',
  blurP: 'probability',
  blurSigma: 'positiveRange',
} as const;

/** One view of the SimCLR recipe: crop, flip, colour jitter, grayscale, blur (in that order). */
export function simclrViewSpec(name: string, o: SimclrViewOptions): ViewSpec {
  return {
    name,
    ops: [
      {
        op: 'randomResizedCrop',
        scale: o.cropScale ?? [0.08, 1],
        ratio: o.cropRatio ?? [3 / 4, 4 / 3],
        ...(o.size ? { size: o.size } : {}),
      },
      { op: 'horizontalFlip', p: o.flipP ?? 0.5 },
      // core's colorJitterOp scales (0.4, 0.4, 0.4, 0.1), which is s = 0.5: its factor is 2·s.
      colorJitterOp(2 * (o.colorJitterStrength ?? 1), o.jitterP ?? 0.8),
      { op: 'randomGrayscale', p: o.grayscaleP ?? 0.2 },
      { op: 'gaussianBlur', sigma: o.blurSigma ?? [0.1, 2.0], p: o.blurP ?? 0.5 },
    ],
  };
}

/** SimCLR (Chen et al. 2020, appendix A): two views from one distribution. */
export const simclrViews = defineViewPolicy<SimclrViewOptions>({
  name: 'simclr',
  description: 'two views: random resized crop, flip, colour jitter, grayscale, blur (SimCLR appendix A)',
  options: SIMCLR_VIEW_OPTION_RULES,
  create: (o) => ({ name: 'simclr', views: [simclrViewSpec('view-1', o), simclrViewSpec('view-2', o)] }),
});

/**
 * One view of the same recipe, for methods that contrast an image with a memory of itself rather than with
 * a second view (NPID, Wu et al. 2018: crop, grayscale, jitter, flip).
 */
export const cropJitterViews = defineViewPolicy<SimclrViewOptions>({
  name: 'cropJitter',
  description: 'one view: random resized crop, flip, colour jitter, grayscale, blur (the simclr recipe, once)',
  options: SIMCLR_VIEW_OPTION_RULES,
  create: (o) => ({ name: 'cropJitter', views: [simclrViewSpec('view', o)] }),
});
