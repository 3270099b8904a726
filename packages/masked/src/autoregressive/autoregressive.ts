import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { createEncoder as createEncoderFromSpec, defineMethod, invalidConfig, tfl } from '@ssl/core';
import type { HeldOutFigure, ImageDataset, MethodRuntime, VitEncoder } from '@ssl/core';
import { contextFreeHeldOutTask, contextFreeReferenceName, heldOutVersusContextFree } from '../blocks/held-out';
import { patchify } from '../blocks/patchify';
import { normalizedPatches } from '../losses/mae-loss';
import { nextPatchLoss } from '../losses/next-patch-loss';
import { requireVitEncoder } from '../mae/mae';
import { drawPrefixLengths, prefixNextPatchLoss } from './prefix-next-patch-loss';

export interface AutoregressiveConfig {
  /** Regress per-patch normalized pixels (AIM's target, as MAE's); false: raw pixels. */
  normPixLoss: boolean;
  /**
   * AIM's prefix attention (Sec. 3), default: per image and step a prefix length K uniform in [1, L − 1], the first K
   * patches attend to each other bidirectionally, the rest causally, and the loss covers the patches after the prefix
   * only; the run's encoder is the same ViT with bidirectional attention (`causal: false`), as AIM evaluates it.
   * false: a causal ViT throughout, trained on all L − 1 conditionals and evaluated causally.
   */
  prefix: boolean;
}

export const AUTOREGRESSIVE_DEFAULTS: AutoregressiveConfig = Object.freeze({ normPixLoss: true, prefix: true });

declare module '@ssl/core' {
  interface MethodConfigs {
    'masked:autoregressive': AutoregressiveConfig;
  }
}

export interface AutoregressiveParts {
  /**
   * The run's ViT: with `prefix`, bidirectional (`spec.causal` false), trained through `encodeTokens`' prefix-causal
   * attention; without, causal (`spec.causal`): patch token k has seen patches 0 … k of the raster order.
   */
  readonly encoder: VitEncoder;
  /** The linear prediction head: token D → the p·p·C values of the next patch. */
  readonly head: tfl.LayersModel;
  readonly normPixLoss: boolean;
  readonly prefix: boolean;
}

export interface AutoregressiveRuntime extends MethodRuntime<'unlabeled'>, AutoregressiveParts {
  readonly encoder: VitEncoder;
}

export function validateAutoregressiveConfig(config: AutoregressiveConfig): void {
  if (typeof config.normPixLoss !== 'boolean') invalidConfig('normPixLoss', config.normPixLoss, 'true or false');
  if (typeof config.prefix !== 'boolean') invalidConfig('prefix', config.prefix, 'true or false');
}

/**
 * The run's ViT with causal attention: a ViT built without it is rebuilt from its own spec (seed included) with
 * `causal: true`, and the first one freed, so the saved encoder and the evaluation's random-init control are the
 * causal network that was trained.
 */
export function causalEncoder(encoder: VitEncoder): VitEncoder {
  if (encoder.spec.causal === true) return encoder;
  if (encoder.spec.pooling === 'class') {
    invalidConfig('encoder.pooling', 'class', "'mean' (or unset): under causal attention the class token, at position 0, sees only itself");
  }
  const rebuilt = createEncoderFromSpec({ ...encoder.spec, causal: true });
  encoder.model.dispose();
  return rebuilt;
}

/**
 * The run's ViT for prefix training: bidirectional attention (`causal: false`) and the mean of the patch tokens
 * (`pooling: 'mean'`: the head reads patch tokens, nothing trains a class-token read-out), rebuilt from its own spec
 * (seed included) when it is not already that, and the first one freed — so the saved encoder, and the evaluation's
 * random-init control rebuilt from its spec, are the bidirectional ViT at the same init.
 */
export function prefixEncoder(encoder: VitEncoder): VitEncoder {
  if (encoder.spec.pooling === 'class') {
    invalidConfig('encoder.pooling', 'class', "'mean' (or unset): the head reads the patch tokens and nothing trains the class token's");
  }
  if (encoder.spec.causal !== true && encoder.spec.pooling === 'mean') return encoder;
  const rebuilt = createEncoderFromSpec({ ...encoder.spec, causal: false, pooling: 'mean' });
  encoder.model.dispose();
  return rebuilt;
}

/**
 * The head's prediction at every patch position [N, L, p·p·C]: position k, having attended to patches 0 … k,
 * predicts patch k + 1. The class token, if any, is dropped from the output. With `prefixLengths` (per image K) the
 * blocks run prefix-causal: position k also sees patches j < K (so positions k < K − 1 have seen their next patch).
 * Without, the encoder's own attention: a prefix-trained (bidirectional) encoder needs `prefixLengths` here.
 */
export function autoregressiveForward(
  parts: Pick<AutoregressiveParts, 'encoder' | 'head'>,
  images: Tensor4D,
  training = false,
  prefixLengths?: readonly number[],
): Tensor3D {
  const { encoder, head } = parts;
  return tf.tidy(() => {
    const tokens = encoder.encodeTokens(encoder.embedPatches(images, { training }), { training, prefixLengths });
    const [batch, , width] = tokens.shape;
    const patchTokens = encoder.hasClassToken ? tf.slice(tokens, [0, 1, 0], [batch, encoder.numPatches, width]) : tokens;
    return head.apply(patchTokens, { training }) as Tensor3D;
  });
}

/**
 * The next-patch loss of a batch. With `prefixLengths` (prefix training) the conditionals after each image's prefix,
 * p(x_k+1 | x_≤k) for k ≥ K − 1 (`prefixNextPatchLoss`); without, all L − 1 conditionals of every image in one causal
 * pass — for a prefix-trained encoder, the causal read-out: every K = 1, so the blocks run causally.
 */
export function autoregressiveBatchLoss(
  parts: AutoregressiveParts,
  images: Tensor4D,
  training = false,
  prefixLengths?: readonly number[],
): Scalar {
  return tf.tidy(() => {
    const readout = prefixLengths ?? (parts.prefix ? new Array<number>(images.shape[0]).fill(1) : undefined);
    const prediction = autoregressiveForward(parts, images, training, readout);
    const target = patchify(images, parts.encoder.patchSize);
    const options = { normPixLoss: parts.normPixLoss };
    return prefixLengths ? prefixNextPatchLoss(prediction, target, prefixLengths, options) : nextPatchLoss(prediction, target, options);
  });
}

/**
 * The autoregressive model's own task on held-out images: the next-patch MSE of every image (inference mode) beside
 * the best guess that ignores the patches before: each position's mean next patch over the held-out images (in
 * normalized pixels under `normPixLoss`). A prefix-trained model is read out causally (every K = 1: all L − 1
 * conditionals, each from the patches before it only), the same task as the causal model's. No randomness: `seed`
 * is unused.
 */
export async function autoregressiveHeldOutTask(
  parts: AutoregressiveParts,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  seed: number,
): Promise<HeldOutFigure[]> {
  const { encoder, normPixLoss } = parts;
  const [result] = await heldOutVersusContextFree(
    dataset,
    [{ kind: 'mean' }],
    (images) => {
      const patches = patchify(images, encoder.patchSize);
      const [batch, length, values] = patches.shape;
      const next = tf.slice(patches, [0, 1, 0], [batch, length - 1, values]) as Tensor3D;
      return [
        {
          value: autoregressiveBatchLoss(parts, images).dataSync()[0],
          targets: normPixLoss ? normalizedPatches(next) : next,
          weights: tf.ones([1, 1, 1]),
        },
      ];
    },
    { seed },
  );
  return [
    {
      name: `next-patch MSE (${normPixLoss ? 'per-patch normalized' : 'raw'} pixels, raster order${parts.prefix ? ', causal read-out' : ''})`,
      kind: 'error',
      value: result.value,
      reference: { name: contextFreeReferenceName("each position's mean next patch"), value: result.reference },
    },
  ];
}

/**
 * Autoregressive image modelling in raster order (lecture 000; AIM, El-Nouby et al. 2024, with pixel targets):
 * p(x) = Π_k p(x_k | x_<k) over the patches in raster scan order. One pass over an image gives the conditionals of
 * all its patches: a linear head on patch token k regresses patch k + 1 (MSE, normalized pixels by default). By
 * default (`prefix`, AIM Sec. 3) each image's blocks run prefix-causal — a random prefix of K patches attends
 * bidirectionally, the rest causally — the loss covers the patches after the prefix, and the representation is
 * the same ViT run bidirectionally, pooled by the mean of its patch tokens. `prefix: false`: a causal ViT (each
 * block's logits masked above the diagonal), trained on every conditional and evaluated causally.
 */
export const autoregressive = defineMethod<AutoregressiveConfig, 'unlabeled'>({
  name: 'autoregressive',
  description:
    'Autoregressive image modelling (AIM): a ViT predicts every next patch in raster order from the patches before it, trained with a random bidirectional prefix and evaluated bidirectionally.',
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
    const vit = requireVitEncoder(createEncoder(), 'masked:autoregressive');
    const encoder = config.prefix ? prefixEncoder(vit) : causalEncoder(vit);
    if (encoder.numPatches < 2)
      invalidConfig('encoder.patchSize', encoder.patchSize, 'a patch size that cuts the image into at least 2 patches');
    const patchValues = encoder.patchSize * encoder.patchSize * inputShape[2];
    if (config.normPixLoss && patchValues < 2) {
      invalidConfig('normPixLoss', true, 'false for 1-value patches (a per-patch variance needs 2 values)');
    }
    const head = tfl.sequential({
      layers: [
        tfl.layers.dense({
          inputShape: [encoder.numPatches, encoder.embedDim],
          units: patchValues,
          kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.seed() }),
        }),
      ],
    });
    const parts: AutoregressiveParts = { encoder, head, normPixLoss: config.normPixLoss, prefix: config.prefix };
    return {
      ...parts,
      trainable: { encoder: encoder.model, head },
      products: () => ({ head }),
      heldOutTask: contextFreeHeldOutTask('masked:autoregressive', (images, seed) => autoregressiveHeldOutTask(parts, images, seed)),
      step(batch, context) {
        const images = batch.views[0] ?? batch.images;
        // Fresh prefixes every step from the trainer's seeded stream (reproducible, resumable), as MAE's masks.
        const prefixLengths = config.prefix ? drawPrefixLengths(images.shape[0], encoder.numPatches, context.rng) : undefined;
        return { loss: autoregressiveBatchLoss(parts, images, true, prefixLengths) };
      },
    };
  },
});
