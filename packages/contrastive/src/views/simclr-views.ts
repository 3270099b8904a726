import { colorJitterOp, defineViewPolicy } from '@ssl/core';
import type { ViewSpec } from '@ssl/core';

export interface SimclrViewOptions {
  size?: [number, number];
  /** SimCLR: (0.08, 1); small grayscale images often do better with (0.2, 1) or more. */
  cropScale?: [number, number];
  cropRatio?: [number, number];
  flipP?: number;
  /** Scales the jitter strengths (0.4, 0.4, 0.4, 0.1): 1 is SimCLR's s = 0.5; the paper's ImageNet s = 1 is 2. */
  jitterStrength?: number;
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
  jitterStrength: 'nonNegative',
  jitterP: 'probability',
  grayscaleP: 'probability',
  blurP: 'probability',
  blurSigma: 'positiveRange',
} as const;

/** SimCLR (Chen et al. 2020, appendix A): two views from one distribution. */
export const simclrViews = defineViewPolicy<SimclrViewOptions>({
  name: 'simclr',
  description: 'two views: random resized crop, flip, colour jitter, grayscale, blur (SimCLR appendix A)',
  options: SIMCLR_VIEW_OPTION_RULES,
  create(o) {
    const view = (name: string): ViewSpec => ({
      name,
      ops: [
        { op: 'randomResizedCrop', scale: o.cropScale ?? [0.08, 1], ratio: o.cropRatio ?? [3 / 4, 4 / 3], ...(o.size ? { size: o.size } : {}) },
        { op: 'horizontalFlip', p: o.flipP ?? 0.5 },
        colorJitterOp(o.jitterStrength ?? 1, o.jitterP ?? 0.8),
        { op: 'randomGrayscale', p: o.grayscaleP ?? 0.2 },
        { op: 'gaussianBlur', sigma: o.blurSigma ?? [0.1, 2.0], p: o.blurP ?? 0.5 },
      ],
    });
    return { name: 'simclr', views: [view('view-1'), view('view-2')] };
  },
});
