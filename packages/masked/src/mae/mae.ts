import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import {
  SslError,
  VitEncoder,
  checkPolicyOptions,
  createEncoder as createEncoderFromSpec,
  cropFlip,
  defineMethod,
  invalidConfig,
  validateTransformerDims,
} from '@ssl/core';
import type { CropFlipOptions, Encoder, HeldOutFigure, ImageDataset, MethodRuntime, tfl } from '@ssl/core';
import { contextFreeHeldOutTask, contextFreeReferenceName, heldOutVersusContextFree } from '../blocks/held-out';
import { gatherTokens } from '../blocks/gather-tokens';
import { patchify } from '../blocks/patchify';
import { numKeptPatches, randomMasking } from '../blocks/random-masking';
import type { RandomMasking } from '../blocks/random-masking';
import { maeLoss, normalizedPatches } from '../losses/mae-loss';
import { buildMaeDecoder } from './decoder';

/**
 * MAE configuration. The encoder is the run's encoder spec and must be a ViT, e.g.
 * `train({ method, data, encoder: vitPreset('vit28') })` (the trainer's default encoder is a CNN, which
 * MAE rejects: it needs patch tokens to drop).
 */
export interface MaeConfig {
  /** Fraction of patches removed per image, in (0, 1); 0.75 in the paper (Sec. 4, Fig. 5). */
  maskRatio: number;
  /** Decoder token width; a multiple of 4 (2-D sin-cos positions). 512 for ViT-L in the paper, 64 here. */
  decoderEmbedDim: number;
  /** Decoder transformer blocks; 8 in the paper, 2 here (Table 1a: deeper decoders mostly help linear probing). */
  decoderDepth: number;
  /** Decoder attention heads; must divide decoderEmbedDim. */
  decoderNumHeads: number;
  /** Decoder MLP width / decoderEmbedDim; 4 as ViT. */
  decoderMlpRatio: number;
  /** Regress per-patch normalized pixels (Sec. 3 and Table 1d, the paper's best target). */
  normPixLoss: boolean;
  /**
   * The encoder's position embedding. 'sincos' (default): fixed 2-D sin-cos, as the MAE reference code
   * (`pos_embed` built by `get_2d_sincos_pos_embed`, `requires_grad=False`), whatever the run's ViT spec says;
   * the encoder is built from the run's spec with `positionEmbedding: 'sincos'` (same seed), so its saved spec
   * and its random-init control say so too. 'encoder': keep the run's spec (vitPreset's default is 'learned').
   */
  positionEmbedding: 'sincos' | 'encoder';
  /**
   * Overrides of core's 'cropFlip' view policy (random resized crop, scale 0.2–1 by default, and a flip), e.g.
   * `{ cropScale: [0.5, 1] }`: at 28×28 a crop of a fifth of the image is a few patches blown up.
   */
  views: CropFlipOptions;
}

/** Everything `reconstruct` and `maeForward` need from a trained (or fresh) MAE. */
export interface MaeParts {
  /** The ViT encoder (what evaluation uses). */
  readonly encoder: VitEncoder;
  /** The decoder: [encoded tokens, restore indices] → [N, P + L, p·p·C]. Discarded after training. */
  readonly decoder: tfl.LayersModel;
  readonly maskRatio: number;
  readonly normPixLoss: boolean;
}

/** What `mae.build` returns: the method runtime plus its parts, so `reconstruct(runtime, ...)` works. */
export interface MaeRuntime extends MethodRuntime<'unlabeled'>, MaeParts {
  readonly encoder: VitEncoder;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'masked:mae': MaeConfig;
  }
}

export const MAE_DEFAULTS: MaeConfig = Object.freeze({
  maskRatio: 0.75,
  decoderEmbedDim: 64,
  decoderDepth: 2,
  decoderNumHeads: 4,
  decoderMlpRatio: 4,
  normPixLoss: true,
  positionEmbedding: 'sincos',
  views: {},
});

/**
 * MAE's learning-rate rule: lr = base_lr · batch / 256 (He et al. 2022, Table 8; base 1.5e-4 for
 * ImageNet). `mae.training` uses base 1e-3 for short runs on 28×28 images (chosen, not tuned).
 */
export function maeLearningRate(batchSize: number, baseLearningRate = 1.5e-4): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) invalidConfig('batchSize', batchSize, 'a positive integer');
  if (!(baseLearningRate > 0)) invalidConfig('baseLearningRate', baseLearningRate, 'a positive number');
  return (baseLearningRate * batchSize) / 256;
}

/** Throws SslError('invalid-config') naming the first bad field of an MAE config. */
export function validateMaeConfig(config: MaeConfig): void {
  const ratio = config.maskRatio;
  if (typeof ratio !== 'number' || !(ratio > 0 && ratio < 1)) {
    invalidConfig('maskRatio', ratio, 'a number strictly between 0 and 1 (MAE uses 0.75; 0 leaves no patch for the loss)');
  }
  const dim = config.decoderEmbedDim;
  if (!Number.isInteger(dim) || dim < 4 || dim % 4 !== 0) {
    invalidConfig('decoderEmbedDim', dim, 'a positive multiple of 4 (the decoder uses a 2-D sin-cos position embedding)');
  }
  if (!Number.isInteger(config.decoderDepth) || config.decoderDepth < 1)
    invalidConfig('decoderDepth', config.decoderDepth, 'a positive integer');
  validateTransformerDims('decoderEmbedDim', dim, 'decoderNumHeads', config.decoderNumHeads);
  const mlpRatio = config.decoderMlpRatio;
  if (typeof mlpRatio !== 'number' || !(mlpRatio > 0) || !Number.isInteger(mlpRatio * dim)) {
    invalidConfig('decoderMlpRatio', mlpRatio, 'a positive number with decoderMlpRatio · decoderEmbedDim an integer');
  }
  if (typeof config.normPixLoss !== 'boolean') invalidConfig('normPixLoss', config.normPixLoss, 'true or false');
  if (config.positionEmbedding !== 'sincos' && config.positionEmbedding !== 'encoder')
    invalidConfig('positionEmbedding', config.positionEmbedding, "'sincos' (MAE's fixed 2-D embedding) or 'encoder' (the run's ViT spec)");
  checkPolicyOptions(cropFlip, config.views, 'views');
}

/** Narrows an encoder to the ViT MAE needs, with an error that says how to get one. */
export function requireVitEncoder(encoder: Encoder, method = 'masked:mae'): VitEncoder {
  if (!(encoder instanceof VitEncoder)) {
    throw new SslError(
      'invalid-config',
      `Invalid config value encoder = ${encoder.kind}: ${method} masks patch tokens and needs a ViT encoder. ` +
        "Pass encoder: vitPreset('vit28') (28×28 images) or another vitPreset(...) to train(), or leave encoder out for MAE's recommended vit28 (`ssl`: --encoder vit28).",
      { details: { field: 'encoder', value: encoder.kind } },
    );
  }
  return encoder;
}

/**
 * The run's ViT with MAE's position embedding: with 'sincos', a ViT built with learned positions is rebuilt
 * from its own spec (seed included) with fixed 2-D sin-cos ones, and the first one freed.
 */
export function maeEncoder(encoder: VitEncoder, positionEmbedding: MaeConfig['positionEmbedding']): VitEncoder {
  if (positionEmbedding === 'encoder' || encoder.spec.positionEmbedding === 'sincos') return encoder;
  if (encoder.embedDim % 4 !== 0) {
    invalidConfig(
      'positionEmbedding',
      positionEmbedding,
      `'encoder' for a ViT of width ${encoder.embedDim} (2-D sin-cos needs a multiple of 4)`,
    );
  }
  const rebuilt = createEncoderFromSpec({ ...encoder.spec, positionEmbedding: 'sincos' });
  encoder.model.dispose();
  return rebuilt;
}

/**
 * The MAE forward pass on a given masking (He et al. 2022, Sec. 3; `forward_encoder` + `forward_decoder`):
 * embed all patches, keep the visible ones (`keepIndices`, per-sample shuffle), run the ViT blocks on
 * them only (plus the class token), decode with mask tokens put back in patch order (`restoreIndices`)
 * and drop the class-token row. Returns predictions [N, L, p·p·C] for every patch.
 */
export function maeForward(
  parts: Pick<MaeParts, 'encoder' | 'decoder'>,
  images: Tensor4D,
  masking: RandomMasking,
  training = false,
): Tensor3D {
  const { encoder, decoder } = parts;
  return tf.tidy(() => {
    const tokens = encoder.embedPatches(images, { training });
    const visible = gatherTokens(tokens, masking.keepIndices);
    const latent = encoder.encodeTokens(visible, { training });
    const decoded = decoder.apply([latent, masking.restoreIndices], { training }) as Tensor3D;
    const prefix = encoder.hasClassToken ? 1 : 0;
    const [batch, , values] = decoded.shape;
    return tf.slice(decoded, [0, prefix, 0], [batch, encoder.numPatches, values]) as Tensor3D;
  });
}

/** The MAE reconstruction loss of one batch with a masking drawn from `rng` (a Random or seed). */
export function maeBatchLoss(parts: MaeParts, images: Tensor4D, masking: RandomMasking, training = false): tf.Scalar {
  return tf.tidy(() => {
    const prediction = maeForward(parts, images, masking, training);
    const target = patchify(images, parts.encoder.patchSize);
    return maeLoss(prediction, target, masking.mask as Tensor2D, { normPixLoss: parts.normPixLoss });
  });
}

/**
 * MAE's own task on held-out images: the masked-patch loss (`maeBatchLoss`, inference mode, masks drawn from
 * `Random(seed)` batch after batch) beside the best guess that ignores the visible patches, each patch value's
 * mean over the held-out images' masked patches (in normalized pixels under `normPixLoss`).
 */
export async function maeHeldOutTask(
  parts: MaeParts,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  seed: number,
  options: { batchSize?: number } = {},
): Promise<HeldOutFigure[]> {
  const { encoder, maskRatio, normPixLoss } = parts;
  const [result] = await heldOutVersusContextFree(
    dataset,
    [{ kind: 'mean' }],
    (images, rng) => {
      const masking = randomMasking(images.shape[0], encoder.numPatches, maskRatio, rng);
      const target = patchify(images, encoder.patchSize);
      return [
        {
          value: maeBatchLoss(parts, images, masking).dataSync()[0],
          targets: normPixLoss ? normalizedPatches(target) : target,
          weights: tf.expandDims(masking.mask, 2),
        },
      ];
    },
    { seed, batchSize: options.batchSize },
  );
  return [
    {
      name: `masked-patch MSE (${normPixLoss ? 'per-patch normalized' : 'raw'} pixels, ${Math.round(100 * maskRatio)}% of patches masked)`,
      kind: 'error',
      value: result.value,
      reference: { name: contextFreeReferenceName("each patch position's mean patch"), value: result.reference },
    },
  ];
}

/**
 * Masked Autoencoders (He et al. 2022): mask 75% of the patches at random, encode only the visible ones
 * with a ViT, reconstruct the pixels of the masked patches with a small decoder that is discarded after
 * pre-training. The representation is the ViT; `trainable.decoder` exists only to train it.
 */
export const mae = defineMethod<MaeConfig, 'unlabeled'>({
  name: 'mae',
  description: 'Masked autoencoder: reconstruct the pixels of randomly masked patches from the visible ones (ViT encoder).',
  paper: {
    title: 'Masked Autoencoders Are Scalable Vision Learners',
    authors: 'He, Chen, Xie, Li, Dollár, Girshick',
    year: 2022,
    url: 'https://arxiv.org/abs/2111.06377',
  },
  data: 'unlabeled',
  defaults: MAE_DEFAULTS,
  validate: validateMaeConfig,
  // MAE pre-trains with random resized crops (scale 0.2–1) and horizontal flips only (Appendix A.1).
  views: (config) => ({ unlabeled: { name: 'cropFlip', overrides: { ...config.views } } }),
  training: {
    // AdamW with β = (0.9, 0.95) and weight decay 0.05 (Table 8); biases and norms are not decayed by
    // core's optimizer, as MAE's param_groups_weight_decay. Base lr 1e-3 (per 256 images) rather than
    // 1.5e-4, which is tuned for 800+ ImageNet epochs; a choice for short runs, not a tuned value.
    optimizer: { kind: 'adamw', lr: maeLearningRate(256, 1e-3), beta1: 0.9, beta2: 0.95, weightDecay: 0.05 },
    // Linear warm-up then cosine decay (Table 8: 40 warm-up epochs of 800, 5%).
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.05 },
    batchSize: 256,
    epochs: 20,
    // MAE masks patch tokens, so it needs a ViT: vit28 (4×4 patches) when the user names no encoder.
    encoder: 'vit28',
  },
  build({ config, inputShape, createEncoder, rng }): MaeRuntime {
    const encoder = maeEncoder(requireVitEncoder(createEncoder()), config.positionEmbedding);
    const numPatches = encoder.numPatches;
    const keep = numKeptPatches(numPatches, config.maskRatio);
    if (keep < 1) {
      invalidConfig(
        'maskRatio',
        config.maskRatio,
        `a ratio that keeps at least one of the encoder's ${numPatches} patches (floor(L·(1 − maskRatio)) ≥ 1)`,
      );
    }
    const channels = inputShape[2];
    const patchValues = encoder.patchSize * encoder.patchSize * channels;
    if (config.normPixLoss && patchValues < 2) {
      invalidConfig(
        'normPixLoss',
        true,
        `false for 1-value patches (patchSize ${encoder.patchSize}, ${channels} channel): a per-patch variance needs 2 values`,
      );
    }
    const decoder = buildMaeDecoder({
      encoderDim: encoder.embedDim,
      gridSize: encoder.gridSize,
      prefixTokens: encoder.hasClassToken ? 1 : 0,
      patchValues,
      embedDim: config.decoderEmbedDim,
      depth: config.decoderDepth,
      numHeads: config.decoderNumHeads,
      mlpRatio: config.decoderMlpRatio,
      gelu: encoder.blocks[0]?.gelu,
      seed: rng.seed(),
    });
    const parts: MaeParts = { encoder, decoder, maskRatio: config.maskRatio, normPixLoss: config.normPixLoss };
    return {
      ...parts,
      encoder,
      trainable: { encoder: encoder.model, decoder },
      heldOutTask: contextFreeHeldOutTask('masked:mae', (images, seed) => maeHeldOutTask(parts, images, seed)),
      step(batch, context) {
        // The 'cropFlip' policy makes one augmented view; without views (policy 'none' override) use the images.
        const images = batch.views[0] ?? batch.images;
        // A fresh per-sample masking every step, from the trainer's seeded stream (reproducible, resumable).
        const masking = randomMasking(images.shape[0], numPatches, config.maskRatio, context.rng);
        return { loss: maeBatchLoss(parts, images, masking, true) };
      },
    };
  },
});
