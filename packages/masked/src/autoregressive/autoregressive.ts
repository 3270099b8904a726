import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { Random, defineMethod, invalidConfig } from '@ssl/core';
import type { MethodRuntime } from '@ssl/core';
import { patchify } from '../blocks/patchify';
import { maeLoss } from '../losses/mae-loss';
import { buildMaskedPixelParts, simmimForward } from '../simmim/simmim';
import type { SimMimParts } from '../simmim/simmim';

export interface AutoregressiveConfig {
  /** Side of the patches of an encoder without patch tokens (a CNN), which is masked at its input; a ViT uses its own. */
  maskPatchSize: number;
  /** Regress per-patch normalized pixels (AIM's target, as MAE's); false: raw pixels. */
  normPixLoss: boolean;
}

export const AUTOREGRESSIVE_DEFAULTS: AutoregressiveConfig = Object.freeze({ maskPatchSize: 4, normPixLoss: true });

declare module '@ssl/core' {
  interface MethodConfigs {
    'masked:autoregressive': AutoregressiveConfig;
  }
}

/** The two masks of raster-order prefixes, [N, L] float32: what is hidden (positions ≥ k) and the next patch (position k). */
export interface PrefixMasks {
  readonly hidden: Tensor2D;
  readonly next: Tensor2D;
}

/**
 * One raster-order prefix per image: k uniform in [1, L − 1] (at least one patch seen, at least one to predict),
 * patches 0 … k − 1 visible, k … L − 1 hidden, and patch k the one to predict. Drawn from `rng` (a Random or a seed).
 */
export function prefixMasks(batchSize: number, numPatches: number, rng: Random | number): PrefixMasks {
  if (!Number.isInteger(numPatches) || numPatches < 2)
    invalidConfig('numPatches', numPatches, 'an integer ≥ 2 (a prefix and a next patch)');
  const random = typeof rng === 'number' ? new Random(rng) : rng;
  const hidden = new Float32Array(batchSize * numPatches);
  const next = new Float32Array(batchSize * numPatches);
  for (let n = 0; n < batchSize; n++) {
    const k = 1 + random.int(numPatches - 1);
    hidden.fill(1, n * numPatches + k, (n + 1) * numPatches);
    next[n * numPatches + k] = 1;
  }
  return { hidden: tf.tensor2d(hidden, [batchSize, numPatches]), next: tf.tensor2d(next, [batchSize, numPatches]) };
}

export interface AutoregressiveParts extends SimMimParts {
  readonly normPixLoss: boolean;
}

export interface AutoregressiveRuntime extends MethodRuntime<'unlabeled'>, AutoregressiveParts {}

export function validateAutoregressiveConfig(config: AutoregressiveConfig): void {
  if (!Number.isInteger(config.maskPatchSize) || config.maskPatchSize < 1)
    invalidConfig('maskPatchSize', config.maskPatchSize, 'a positive integer (pixels) that divides the image size');
  if (typeof config.normPixLoss !== 'boolean') invalidConfig('normPixLoss', config.normPixLoss, 'true or false');
}

/** The next-patch loss of a batch for given prefixes: squared error on patch k of each image, its prefix visible. */
export function autoregressiveBatchLoss(parts: AutoregressiveParts, images: Tensor4D, masks: PrefixMasks, training = false): Scalar {
  return tf.tidy(() => {
    const prediction: Tensor3D = simmimForward(parts, images, masks.hidden, training);
    return maeLoss(prediction, patchify(images, parts.patchSize), masks.next, { normPixLoss: parts.normPixLoss });
  });
}

/**
 * Autoregressive image modelling in raster order (lecture 000; AIM, El-Nouby et al. 2024, with pixel targets):
 * p(x) = Π_k p(x_k | x_<k) over patches in raster scan order, each conditional trained by regressing patch k
 * from patches 0 … k − 1. Without a causal attention mask in core's ViT, each image trains one conditional per
 * step: a random prefix stays visible, the rest is replaced by the mask token (SimMIM's masked input, so any
 * encoder works), and the linear head's prediction for patch k is scored (MSE, normalized pixels by default).
 * A causal ViT would score all L − 1 conditionals in one pass (see the README). The representation is the encoder.
 */
export const autoregressive = defineMethod<AutoregressiveConfig, 'unlabeled'>({
  name: 'autoregressive',
  description:
    'Autoregressive image modelling: predict the next patch in raster order from the patches before it (one random prefix per image).',
  paper: {
    title: 'Scalable Pre-training of Large Autoregressive Image Models',
    authors: 'El-Nouby, Klein, Zhai, Bautista, Toshev, Shankar, Susskind, Joulin',
    year: 2024,
    url: 'https://arxiv.org/abs/2401.08541',
  },
  data: 'unlabeled',
  defaults: AUTOREGRESSIVE_DEFAULTS,
  validate: validateAutoregressiveConfig,
  // A random resized crop (0.5–1, as MAE's measured recipe at 28×28) and a flip; AIM uses crops and flips.
  views: () => ({ unlabeled: { name: 'cropFlip', overrides: { cropScale: [0.5, 1] } } }),
  // AdamW (0.9, 0.95), weight decay 0.05, warm-up then cosine as AIM and MAE; lr 1e-3 for short runs (chosen, not tuned).
  training: {
    optimizer: { kind: 'adamw', lr: 1e-3, beta1: 0.9, beta2: 0.95, weightDecay: 0.05 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.05 },
    batchSize: 128,
    epochs: 10,
    encoder: 'vit28',
  },
  build({ config, inputShape, createEncoder, rng }): AutoregressiveRuntime {
    const { parts: masked, numPatches } = buildMaskedPixelParts(createEncoder(), inputShape, config.maskPatchSize, rng);
    if (numPatches < 2) invalidConfig('maskPatchSize', masked.patchSize, 'a patch size that cuts the image into at least 2 patches');
    const channels = inputShape[2];
    if (config.normPixLoss && masked.patchSize * masked.patchSize * channels < 2) {
      invalidConfig('normPixLoss', true, 'false for 1-value patches (a per-patch variance needs 2 values)');
    }
    const parts: AutoregressiveParts = { ...masked, normPixLoss: config.normPixLoss };
    const { encoder, maskToken, head } = parts;
    return {
      ...parts,
      trainable: { encoder: encoder.model, maskToken, head },
      products: () => ({ maskToken, head }),
      step(batch, context) {
        const images = batch.views[0] ?? batch.images;
        const masks = prefixMasks(images.shape[0], numPatches, context.rng);
        return { loss: autoregressiveBatchLoss(parts, images, masks, true) };
      },
    };
  },
});
