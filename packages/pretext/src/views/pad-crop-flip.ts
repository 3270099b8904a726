import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { Random } from '@ssl/core';
import { defineViewPolicy } from '@ssl/core';
import { extractPatches } from '../blocks/patches';

/**
 * Zero-padding by `padding` pixels on every side and a random crop of the original size: torchvision's
 * `RandomCrop(size, padding)` (constant fill 0), the translation the official RotNet code applies before
 * rotating (gidariss/FeatureLearningRotNet, CIFAR-10 loader). Square images only, like the rotations.
 */
export function padCrop(images: Tensor4D, rng: Random, padding: number): Tensor4D {
  const [n, height, width] = images.shape;
  if (padding === 0) return images.clone();
  const boxes = Array.from({ length: n }, (_, image) => ({ image, top: rng.int(2 * padding + 1), left: rng.int(2 * padding + 1) }));
  return tf.tidy(() => {
    const padded = tf.pad(images, [
      [0, 0],
      [padding, padding],
      [padding, padding],
      [0, 0],
    ]) as Tensor4D;
    return height === width
      ? extractPatches(padded, boxes, height)
      : (tf.stack(boxes.map((b) => tf.slice(padded, [b.image, b.top, b.left, 0], [1, height, width, -1]).squeeze([0]))) as Tensor4D);
  });
}

export interface PadCropFlipOptions {
  /** Zero padding on each side, in pixels; the official RotNet code: 4 on 32×32. Default 4. */
  padding?: number;
  /** Probability of a horizontal flip. Default 0.5. */
  flipP?: number;
}

/** One view: zero-pad + random crop of the original size + horizontal flip (the official RotNet augmentation). */
export const padCropFlip = defineViewPolicy<PadCropFlipOptions>({
  name: 'padCropFlip',
  description: 'one view: zero-pad + random crop of the original size (torchvision RandomCrop) + horizontal flip',
  options: {
    padding: { check: (v) => Number.isInteger(v) && (v as number) >= 0, expects: 'an integer number of pixels >= 0' },
    flipP: 'probability',
  },
  create: ({ padding = 4, flipP = 0.5 }) => ({
    name: 'padCropFlip',
    views: [
      {
        name: 'view',
        ops: [
          { op: 'custom', name: 'padCrop', apply: (images, rng) => padCrop(images, rng, padding) },
          { op: 'horizontalFlip', p: flipP },
        ],
      },
    ],
  }),
});
