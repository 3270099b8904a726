import { colorJitterOp, defineViewPolicy } from '@ssl/core';
import type { ViewSpec } from '@ssl/core';

export interface ByolViewOptions {
  size?: [number, number];
  cropScale?: [number, number];
  cropRatio?: [number, number];
  flipP?: number;
  /** Scales the jitter strengths (0.4, 0.4, 0.2, 0.1), BYOL's table 6 at 1. */
  jitterStrength?: number;
  jitterP?: number;
  grayscaleP?: number;
  blurSigma?: [number, number];
  /** Blur probability of view 1 and view 2 (BYOL: 1.0 and 0.1). */
  blurP1?: number;
  blurP2?: number;
  /** Solarize probability of view 1 and view 2 (BYOL: 0 and 0.2). */
  solarizeP1?: number;
  solarizeP2?: number;
}

/** BYOL (Grill et al. 2020, table 6): two views with asymmetric blur and solarisation. */
export const byolViews = defineViewPolicy<ByolViewOptions>({
  name: 'byol',
  description: 'two views: crop, flip, jitter, grayscale; view 1 always blurred, view 2 rarely blurred and solarised (BYOL table 6)',
  options: {
    size: 'size',
    cropScale: 'cropScale',
    cropRatio: 'positiveRange',
    flipP: 'probability',
    jitterStrength: 'nonNegative',
    jitterP: 'probability',
    grayscaleP: 'probability',
    blurSigma: 'positiveRange',
    blurP1: 'probability',
    blurP2: 'probability',
    solarizeP1: 'probability',
    solarizeP2: 'probability',
  },
  create(o) {
    const view = (name: string, blurP: number, solarizeP: number): ViewSpec => ({
      name,
      ops: [
        {
          op: 'randomResizedCrop',
          scale: o.cropScale ?? [0.08, 1],
          ratio: o.cropRatio ?? [3 / 4, 4 / 3],
          ...(o.size ? { size: o.size } : {}),
        },
        { op: 'horizontalFlip', p: o.flipP ?? 0.5 },
        colorJitterOp(o.jitterStrength ?? 1, o.jitterP ?? 0.8, 0.2),
        { op: 'randomGrayscale', p: o.grayscaleP ?? 0.2 },
        { op: 'gaussianBlur', sigma: o.blurSigma ?? [0.1, 2.0], p: blurP },
        { op: 'solarize', threshold: 0.5, p: solarizeP },
      ],
    });
    return {
      name: 'byol',
      views: [view('view-1', o.blurP1 ?? 1.0, o.solarizeP1 ?? 0), view('view-2', o.blurP2 ?? 0.1, o.solarizeP2 ?? 0.2)],
    };
  },
});
