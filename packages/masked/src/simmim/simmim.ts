import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { defineMethod, invalidConfig, tfl } from '@ssl/core';
import type { MethodRuntime, VitEncoder } from '@ssl/core';
import { patchify } from '../blocks/patchify';
import { numKeptPatches, randomMasking } from '../blocks/random-masking';
import { simmimLoss } from '../losses/simmim-loss';
import { requireVitEncoder } from '../mae/mae';

export interface SimMimConfig {
  /** Fraction of patches replaced by the mask token; 0.6 in the paper (Table 1, with 32 px mask patches). */
  maskRatio: number;
}

export const SIMMIM_DEFAULTS: SimMimConfig = Object.freeze({ maskRatio: 0.6 });

declare module '@ssl/core' {
  interface MethodConfigs {
    'masked:simmim': SimMimConfig;
  }
}

export interface SimMimParts {
  readonly encoder: VitEncoder;
  /** Holds the learnable mask token [1, 1, D] (a one-row embedding table). */
  readonly maskToken: tfl.LayersModel;
  /** The one-layer linear prediction head: token D → p·p·C pixel values. */
  readonly head: tfl.LayersModel;
}

export interface SimMimRuntime extends MethodRuntime<'unlabeled'>, SimMimParts {
  readonly encoder: VitEncoder;
}

export function validateSimMimConfig(config: SimMimConfig): void {
  const ratio = config.maskRatio;
  if (typeof ratio !== 'number' || !(ratio > 0 && ratio < 1))
    invalidConfig('maskRatio', ratio, 'a number strictly between 0 and 1 (SimMIM uses 0.6)');
}

/**
 * SimMIM's forward pass on a given patch mask [N, L] (1 = masked): every patch goes through the ViT, the
 * masked ones with their patch embedding replaced by the mask token (position embedding kept), and the
 * linear head predicts every patch's pixels [N, L, p·p·C] from its output token.
 */
export function simmimForward(parts: SimMimParts, images: Tensor4D, mask: Tensor2D, training = false): Tensor3D {
  const { encoder, maskToken, head } = parts;
  return tf.tidy(() => {
    const embedded = encoder.embedPatches(images, { training });
    const token = maskToken.apply(tf.zeros([1, 1]), { training }) as Tensor3D;
    // SimMIM (Xie et al. 2022, Sec. 3.1): x ← x·(1 − w) + mask_token·w before the position embedding is added;
    // embedPatches already added it, so the masked tokens become mask_token + position.
    const masked = tf.add(
      tf.mul(embedded, tf.sub(1, tf.expandDims(mask, 2))),
      tf.mul(tf.expandDims(mask, 2), tf.add(token, encoder.positionEmbedding())),
    );
    const encoded = encoder.encodeTokens(masked as Tensor3D, { training });
    const prefix = encoder.hasClassToken ? 1 : 0;
    const patches = tf.slice(encoded, [0, prefix, 0], [encoded.shape[0], encoder.numPatches, encoder.embedDim]);
    return head.apply(patches, { training }) as Tensor3D;
  });
}

export function simmimBatchLoss(parts: SimMimParts, images: Tensor4D, mask: Tensor2D, training = false): Scalar {
  return tf.tidy(() => simmimLoss(simmimForward(parts, images, mask, training), patchify(images, parts.encoder.patchSize), mask));
}

/**
 * SimMIM (Xie et al. 2022): replace a random 60% of the patch embeddings with a learnable mask token, run
 * the whole sequence through the ViT, predict the raw pixels of each patch with one linear layer and take
 * the L1 loss on the masked patches only. Unlike MAE the encoder sees the mask tokens and the head is a
 * single layer. (This version runs on the ViT; the paper's masking of a CNN's input is not built yet.)
 */
export const simmim = defineMethod<SimMimConfig, 'unlabeled'>({
  name: 'simmim',
  description: 'SimMIM: learnable mask token at the ViT input, one linear layer predicts raw pixels, L1 on masked patches.',
  paper: {
    title: 'SimMIM: A Simple Framework for Masked Image Modeling',
    authors: 'Xie, Zhang, Cao, Lin, Bao, Yao, Dai, Hu',
    year: 2022,
    url: 'https://arxiv.org/abs/2111.09886',
  },
  data: 'unlabeled',
  defaults: SIMMIM_DEFAULTS,
  validate: validateSimMimConfig,
  // SimMIM pre-trains with a random resized crop (scale 0.67–1) and a flip only (Sec. 4.1).
  views: () => ({ unlabeled: { name: 'cropFlip', overrides: { cropScale: [0.67, 1] } } }),
  // AdamW, β = (0.9, 0.999), weight decay 0.05 (Sec. 4.1); lr 1e-3 for short runs (chosen, not tuned).
  training: {
    optimizer: { kind: 'adamw', lr: 1e-3, beta1: 0.9, beta2: 0.999, weightDecay: 0.05 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.05 },
    batchSize: 128,
    epochs: 20,
    encoder: 'vit28',
  },
  build({ config, inputShape, createEncoder, rng }): SimMimRuntime {
    const encoder = requireVitEncoder(createEncoder(), 'masked:simmim');
    if (numKeptPatches(encoder.numPatches, config.maskRatio) < 1) {
      invalidConfig(
        'maskRatio',
        config.maskRatio,
        `a ratio that leaves at least one of the encoder's ${encoder.numPatches} patches visible`,
      );
    }
    const maskToken = tfl.sequential({
      layers: [
        tfl.layers.embedding({
          inputDim: 1,
          outputDim: encoder.embedDim,
          inputLength: 1,
          embeddingsInitializer: tfl.initializers.truncatedNormal({ stddev: 0.02, seed: rng.seed() }),
          name: 'mask_token',
        }),
      ],
    });
    const patchValues = encoder.patchSize * encoder.patchSize * inputShape[2];
    const head = tfl.sequential({
      layers: [
        tfl.layers.dense({
          inputShape: [encoder.numPatches, encoder.embedDim],
          units: patchValues,
          kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.seed() }),
        }),
      ],
    });
    const parts: SimMimParts = { encoder, maskToken, head };
    return {
      ...parts,
      trainable: { encoder: encoder.model, maskToken, head },
      step(batch, context) {
        const images = batch.views[0] ?? batch.images;
        const masking = randomMasking(images.shape[0], encoder.numPatches, config.maskRatio, context.rng);
        const loss = simmimBatchLoss(parts, images, masking.mask, true);
        tf.dispose([masking.keepIndices, masking.restoreIndices]);
        return { loss };
      },
    };
  },
});
