import { colorJitterOp, defineViewPolicy } from '@ssl/core';
import type { AugmentOpSpec, ViewSpec } from '@ssl/core';

export interface MultiCropOptions {
  globalCrops?: number;
  localCrops?: number;
  globalScale?: [number, number];
  localScale?: [number, number];
  /** Output size of global crops; default the input size. */
  globalSize?: [number, number];
  /** Output size of local crops; default 96/224 of the input size (DINO's ratio). */
  localSize?: [number, number];
  jitterStrength?: number;
  /** Range of the blur σ in pixels; default (0.1, 2), the papers' for 224-pixel images. */
  blurSigma?: [number, number];
  /** Probability of converting to grayscale; default 0.2 (a no-op on one channel). */
  grayscaleP?: number;
}

/** Multi-crop (SwAV, Caron et al. 2020; DINO, Caron et al. 2021): 2 global + V small local crops. */
export const multiCrop = defineViewPolicy<MultiCropOptions>({
  name: 'multiCrop',
  description: 'global crops (first always blurred, second solarised with p 0.2) + smaller local crops (SwAV, DINO)',
  options: {
    globalCrops: 'positiveCount',
    localCrops: 'count',
    globalScale: 'cropScale',
    localScale: 'cropScale',
    globalSize: 'size',
    localSize: 'size',
    jitterStrength: 'nonNegative',
    blurSigma: 'positiveRange',
    grayscaleP: 'probability',
  },
  create(o) {
    const common = (blurP: number): AugmentOpSpec[] => [
      { op: 'horizontalFlip', p: 0.5 },
      colorJitterOp(o.jitterStrength ?? 1, 0.8, 0.2),
      { op: 'randomGrayscale', p: o.grayscaleP ?? 0.2 },
      { op: 'gaussianBlur', sigma: o.blurSigma ?? [0.1, 2.0], p: blurP },
    ];
    const views: ViewSpec[] = [];
    // DINO: global view 1 always blurred; global view 2 blurred with p 0.1 and solarised with p 0.2.
    for (let g = 0; g < (o.globalCrops ?? 2); g++) {
      const crop: AugmentOpSpec = {
        op: 'randomResizedCrop',
        scale: o.globalScale ?? [0.4, 1],
        ...(o.globalSize ? { size: o.globalSize } : {}),
      };
      const ops = [crop, ...common(g === 0 ? 1.0 : 0.1)];
      if (g > 0) ops.push({ op: 'solarize', threshold: 0.5, p: 0.2 });
      views.push({ name: `global-${g + 1}`, ops });
    }
    const localCrops = o.localCrops ?? 6;
    if (localCrops > 0) {
      const crop: AugmentOpSpec = {
        op: 'randomResizedCrop',
        scale: o.localScale ?? [0.05, 0.4],
        ...(o.localSize ? { size: o.localSize } : { sizeFraction: 96 / 224 }),
      };
      views.push({ name: 'local', count: localCrops, ops: [crop, ...common(0.5)] });
    }
    return { name: 'multiCrop', views };
  },
});
