import * as tf from '@tensorflow/tfjs-core';
import { SslError } from '../errors';
import type { Random } from '../random';
import { colorJitter, gaussianBlur, normalize, randomGrayscale, solarize } from './color';
import { cutout, horizontalFlip, randomResizedCrop, rotate, translateReflect } from './geometric';
import { randAugment, type RandAugmentOpName } from './rand-augment';
import { checkImages } from './util';

/** One augmentation step of a view, as plain data. Probabilities are per image. */
export type AugmentOpSpec =
  | {
      op: 'randomResizedCrop';
      scale: [number, number];
      ratio?: [number, number];
      /** Output [height, width]; default: the input size scaled by sizeFraction (default 1). */
      size?: [number, number];
      sizeFraction?: number;
    }
  | { op: 'horizontalFlip'; p: number }
  | { op: 'colorJitter'; brightness: number; contrast: number; saturation: number; hue: number; p: number }
  | { op: 'randomGrayscale'; p: number }
  | { op: 'gaussianBlur'; sigma: [number, number]; p: number; kernelSize?: number }
  | { op: 'solarize'; threshold: number; p: number }
  | { op: 'rotate'; degrees: [number, number]; p: number; fill?: number }
  | { op: 'translate'; fraction: number }
  | {
      op: 'randAugment';
      numOps: number;
      magnitude: number | 'random';
      ops?: RandAugmentOpName[];
      fill?: number;
      translateFraction?: number;
    }
  | { op: 'cutout'; size: number; p: number; fill?: number }
  | { op: 'normalize'; mean: number[]; std: number[] }
  /** A plugin's own op (an audio mask, a jigsaw shuffle): any batch-wise function of the images and the view's generator. */
  | { op: 'custom'; name: string; apply: (images: tf.Tensor4D, rng: Random) => tf.Tensor4D };

export interface ViewSpec {
  /** Name used in logs and grids, e.g. "global-1", "local", "strong". */
  name: string;
  ops: AugmentOpSpec[];
  /** How many views this spec produces (multi-crop's local crops); default 1. */
  count?: number;
}

/** A named list of views, each a list of op specs; applyViews turns it into tensors. */
export interface ViewPolicy {
  name: string;
  views: ViewSpec[];
}

/** Applies one op spec to a batch. */
export function applyOp(spec: AugmentOpSpec, images: tf.Tensor4D, rng: Random): tf.Tensor4D {
  switch (spec.op) {
    case 'randomResizedCrop': {
      const [, h, w] = images.shape;
      const fraction = spec.sizeFraction ?? 1;
      const size: [number, number] = spec.size ?? [Math.max(1, Math.round(h * fraction)), Math.max(1, Math.round(w * fraction))];
      return randomResizedCrop(images, rng, { scale: spec.scale, ratio: spec.ratio, size });
    }
    case 'horizontalFlip':
      return horizontalFlip(images, rng, { p: spec.p });
    case 'colorJitter':
      return colorJitter(images, rng, spec);
    case 'randomGrayscale':
      return randomGrayscale(images, rng, { p: spec.p });
    case 'gaussianBlur':
      return gaussianBlur(images, rng, { sigma: spec.sigma, p: spec.p, kernelSize: spec.kernelSize });
    case 'solarize':
      return solarize(images, rng, { threshold: spec.threshold, p: spec.p });
    case 'rotate':
      return rotate(images, rng, { degrees: spec.degrees, p: spec.p, fill: spec.fill });
    case 'translate':
      return translateReflect(images, rng, { fraction: spec.fraction });
    case 'randAugment': {
      const result = randAugment(images, rng, spec);
      return result.images;
    }
    case 'cutout':
      return cutout(images, rng, { size: spec.size, p: spec.p, fill: spec.fill });
    case 'normalize':
      return normalize(images, spec.mean, spec.std);
    case 'custom':
      return spec.apply(images, rng);
    default:
      throw new SslError('invalid-config', `Unknown augmentation op ${JSON.stringify((spec as { op: unknown }).op)} in a view policy.`);
  }
}

/**
 * Produces every view of `images` (float32 [0, 1], NHWC) under `policy`, in the order of
 * policy.views (a spec with count k gives k consecutive views). Each view draws from its own fork of
 * `rng`, so editing one view's ops does not change the randomness of the others. The caller disposes
 * the returned tensors; the input is not disposed.
 */
export function applyViews(policy: ViewPolicy, images: tf.Tensor4D, rng: Random): tf.Tensor4D[] {
  checkImages(images, `applyViews(${policy.name})`);
  if (!Array.isArray(policy.views) || policy.views.length === 0) {
    throw new SslError('invalid-config', `View policy ${policy.name} has no views.`);
  }
  const outputs: tf.Tensor4D[] = [];
  try {
    for (const view of policy.views) {
      const count = view.count ?? 1;
      if (!(Number.isInteger(count) && count >= 0))
        throw new SslError(
          'invalid-config',
          `View ${view.name} of policy ${policy.name}: count must be a non-negative integer, got ${count}.`,
        );
      for (let k = 0; k < count; k++) {
        const viewRng = rng.fork();
        outputs.push(
          tf.tidy(() => {
            let x = images;
            for (const spec of view.ops) x = applyOp(spec, x, viewRng);
            return x === images ? images.clone() : x;
          }),
        );
      }
    }
  } catch (error) {
    tf.dispose(outputs);
    throw error;
  }
  return outputs;
}
