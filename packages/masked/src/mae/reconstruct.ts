import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { Random, SslError, VitEncoder, invalidConfig } from '@ssl/core';
import type { MethodRuntime } from '@ssl/core';
import { patchify, unpatchify } from '../blocks/patchify';
import { randomMasking } from '../blocks/random-masking';
import type { MaeParts } from './mae';
import { maeForward } from './mae';

/** Per-patch variance ε of the normalized-pixel target (MAE's `forward_loss`). */
const NORM_PIX_EPSILON = 1e-6;

export interface ReconstructOptions {
  /** Pixel value that replaces masked patches in `masked` (default 0.5: visible on black backgrounds). */
  fill?: number;
  /** Mask ratio to use instead of the trained one. */
  maskRatio?: number;
}

export interface MaeReconstruction {
  /** The input with masked patches replaced by `fill` [N, H, W, C]. */
  masked: Tensor4D;
  /** The decoder's output for every patch, in pixels, clipped to [0, 1] [N, H, W, C]. */
  reconstruction: Tensor4D;
  /** Visible patches from the input, masked patches from the reconstruction (Fig. 2's "overlay"). */
  pasted: Tensor4D;
  /** 1 where a pixel belongs to a masked patch [N, H, W, 1]. */
  pixelMask: Tensor4D;
  /** Per-patch mask [N, L], 1 = masked. */
  patchMask: Tensor2D;
}

function isMaeParts(source: unknown): source is MaeParts {
  const candidate = source as Partial<MaeParts> | null;
  return (
    candidate !== null &&
    typeof candidate === 'object' &&
    candidate.encoder instanceof VitEncoder &&
    typeof (candidate.decoder as { apply?: unknown } | undefined)?.apply === 'function' &&
    typeof candidate.maskRatio === 'number' &&
    typeof candidate.normPixLoss === 'boolean'
  );
}

/**
 * Masks `images` at random and reconstructs them, for visualization (the MAE demo notebook and Fig. 2).
 * `source` is the runtime of an `masked:mae` run (`result.runtime` from `train`) or its parts.
 *
 * With `normPixLoss` the decoder predicts per-patch normalized pixels; they are brought back to pixels
 * with each target patch's own mean and standard deviation. That uses statistics of the masked patches
 * the model never saw, so it is for display only (the paper's figures come from a model trained on raw
 * pixels for this reason).
 *
 * All returned tensors are new; the caller disposes them.
 */
export function reconstruct(
  source: MaeParts | MethodRuntime,
  images: Tensor4D,
  rng: Random | number,
  options: ReconstructOptions = {},
): MaeReconstruction {
  if (!isMaeParts(source)) {
    throw new SslError(
      'invalid-config',
      'reconstruct needs the runtime of a masked:mae run (result.runtime from train) or { encoder: VitEncoder, decoder, maskRatio, normPixLoss }.',
      {
        details: { field: 'source' },
      },
    );
  }
  const fill = options.fill ?? 0.5;
  if (typeof fill !== 'number' || !Number.isFinite(fill)) invalidConfig('fill', fill, 'a finite number');
  const maskRatio = options.maskRatio ?? source.maskRatio;
  const { encoder } = source;
  const [height, width, channels] = encoder.inputShape;
  const patchSize = encoder.patchSize;
  const masking = randomMasking(images.shape[0], encoder.numPatches, maskRatio, rng instanceof Random ? rng : new Random(rng));
  try {
    return tf.tidy(() => {
      const target = patchify(images, patchSize);
      let prediction: Tensor3D = maeForward(source, images, masking, false);
      if (source.normPixLoss) {
        const patchLength = target.shape[2];
        const mean = tf.mean(target, -1, true);
        const variance = tf.div(tf.sum(tf.square(tf.sub(target, mean)), -1, true), patchLength - 1);
        prediction = tf.add(tf.mul(prediction, tf.sqrt(tf.add(variance, NORM_PIX_EPSILON))), mean) as Tensor3D;
      }
      const patchMask = tf.expandDims(masking.mask, -1); // [N, L, 1]
      const imageShape: [number, number, number] = [height, width, channels];
      const toImage = (patches: Tensor3D) => unpatchify(patches, patchSize, imageShape);
      const reconstruction = tf.clipByValue(toImage(prediction), 0, 1) as Tensor4D;
      const maskPatches = tf.mul(tf.onesLike(target), patchMask) as Tensor3D;
      const pixelMaskAllChannels = toImage(maskPatches);
      const visible = tf.sub(1, pixelMaskAllChannels);
      const masked = tf.add(tf.mul(images, visible), tf.mul(pixelMaskAllChannels, fill)) as Tensor4D;
      const pasted = tf.add(tf.mul(images, visible), tf.mul(reconstruction, pixelMaskAllChannels)) as Tensor4D;
      const pixelMask = tf.slice(pixelMaskAllChannels, [0, 0, 0, 0], [images.shape[0], height, width, 1]) as Tensor4D;
      return { masked, reconstruction, pasted, pixelMask, patchMask: tf.clone(masking.mask) as Tensor2D };
    });
  } finally {
    tf.dispose([masking.keepIndices, masking.mask, masking.restoreIndices]);
  }
}
