import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { VitEncoder, defineMethod, invalidConfig, tfl } from '@ssl/core';
import type { Encoder, HeldOutFigure, ImageDataset, MethodRuntime, Random } from '@ssl/core';
import { contextFreeHeldOutTask, contextFreeReferenceName, heldOutVersusContextFree } from '../blocks/held-out';
import { patchify, unpatchify } from '../blocks/patchify';
import { numKeptPatches, randomMasking } from '../blocks/random-masking';
import { simmimLoss } from '../losses/simmim-loss';

export interface SimMimConfig {
  /** Fraction of patches replaced by the mask token; 0.6 in the paper (Table 1, with 32 px mask patches). */
  maskRatio: number;
  /**
   * Side of the masked patches for an encoder without patch tokens (a CNN, a ResNet), which is masked at its
   * input; it must divide the image's height and width. A ViT masks its own patches and ignores it.
   */
  maskPatchSize: number;
}

// 4 px of 28: a 7×7 grid like vit28's patches (the paper's 32 px masks are 1/6 of a 192 px image).
export const SIMMIM_DEFAULTS: SimMimConfig = Object.freeze({ maskRatio: 0.6, maskPatchSize: 4 });

declare module '@ssl/core' {
  interface MethodConfigs {
    'masked:simmim': SimMimConfig;
  }
}

export interface SimMimParts {
  /** A ViT (masked at its patch embeddings) or any other encoder (masked at its input pixels). */
  readonly encoder: Encoder;
  /**
   * Holds the learnable mask token (a one-row embedding table): [1, 1, D] for a ViT; for another encoder a
   * mask patch of p·p·C pixel values that replaces the masked patches of the input.
   */
  readonly maskToken: tfl.LayersModel;
  /**
   * The one-layer linear prediction head: for a ViT, token D → p·p·C pixel values of its patch; for another
   * encoder, pooled features → every pixel of the image (H·W·C).
   */
  readonly head: tfl.LayersModel;
  /** Side of the masked patches: the ViT's patch size, or `maskPatchSize`. */
  readonly patchSize: number;
}

export interface SimMimRuntime extends MethodRuntime<'unlabeled'>, SimMimParts {}

export function validateSimMimConfig(config: SimMimConfig): void {
  const ratio = config.maskRatio;
  if (typeof ratio !== 'number' || !(ratio > 0 && ratio < 1))
    invalidConfig('maskRatio', ratio, 'a number strictly between 0 and 1 (SimMIM uses 0.6)');
  if (!Number.isInteger(config.maskPatchSize) || config.maskPatchSize < 1)
    invalidConfig('maskPatchSize', config.maskPatchSize, 'a positive integer (pixels) that divides the image size');
}

/**
 * SimMIM's forward pass on a given patch mask [N, L] (1 = masked), predicting every patch's pixels [N, L, p·p·C].
 * A ViT: every patch goes through the encoder, the masked ones with their patch embedding replaced by the mask
 * token (position embedding kept), and the linear head reads each patch's output token. Another encoder: the
 * masked patches of the input image are replaced by the learnable mask patch, and the linear head maps the
 * pooled features to every pixel of the image.
 */
export function simmimForward(parts: SimMimParts, images: Tensor4D, mask: Tensor2D, training = false): Tensor3D {
  const { encoder, maskToken, head } = parts;
  return tf.tidy(() => {
    const token = maskToken.apply(tf.zeros([1, 1]), { training }) as Tensor3D;
    const weights = tf.expandDims(mask, 2);
    if (!(encoder instanceof VitEncoder)) {
      // Masking at the input (the CNN variant): x ← x·(1 − w) + mask_patch·w in pixel space.
      const patches = patchify(images, parts.patchSize);
      const masked = tf.add(tf.mul(patches, tf.sub(1, weights)), tf.mul(weights, token)) as Tensor3D;
      const input = unpatchify(masked, parts.patchSize, [images.shape[1], images.shape[2], images.shape[3]]);
      const pixels = head.apply(encoder.features(input, { training }), { training }) as Tensor2D;
      return patchify(tf.reshape(pixels, images.shape) as Tensor4D, parts.patchSize);
    }
    const embedded = encoder.embedPatches(images, { training });
    // SimMIM (Xie et al. 2022, Sec. 3.1): x ← x·(1 − w) + mask_token·w before the position embedding is added;
    // embedPatches already added it, so the masked tokens become mask_token + position.
    const masked = tf.add(tf.mul(embedded, tf.sub(1, weights)), tf.mul(weights, tf.add(token, encoder.positionEmbedding())));
    const encoded = encoder.encodeTokens(masked as Tensor3D, { training });
    const prefix = encoder.hasClassToken ? 1 : 0;
    const patches = tf.slice(encoded, [0, prefix, 0], [encoded.shape[0], encoder.numPatches, encoder.embedDim]);
    return head.apply(patches, { training }) as Tensor3D;
  });
}

export function simmimBatchLoss(parts: SimMimParts, images: Tensor4D, mask: Tensor2D, training = false): Scalar {
  return tf.tidy(() => simmimLoss(simmimForward(parts, images, mask, training), patchify(images, parts.patchSize), mask));
}

/**
 * SimMIM's own task on held-out images: the L1 on masked patches (`simmimBatchLoss`, inference mode, masks from
 * `Random(seed)`) beside the best guess that ignores the visible patches, the L1-optimal constant: each pixel's
 * median over the held-out images' masked patches.
 */
export async function simmimHeldOutTask(
  parts: SimMimParts,
  numPatches: number,
  maskRatio: number,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  seed: number,
): Promise<HeldOutFigure[]> {
  const [result] = await heldOutVersusContextFree(
    dataset,
    [{ kind: 'median' }],
    (images, rng) => {
      const { mask } = randomMasking(images.shape[0], numPatches, maskRatio, rng);
      return [
        {
          value: simmimBatchLoss(parts, images, mask).dataSync()[0],
          targets: patchify(images, parts.patchSize),
          weights: tf.expandDims(mask, 2),
        },
      ];
    },
    { seed },
  );
  return [
    {
      name: `masked-patch L1 (raw pixels, ${Math.round(100 * maskRatio)}% of ${parts.patchSize}×${parts.patchSize} patches masked)`,
      kind: 'error',
      value: result.value,
      reference: { name: contextFreeReferenceName("each pixel's median"), value: result.reference },
    },
  ];
}

/**
 * SimMIM's networks around an encoder: the mask token (at a ViT's patch embeddings, or a mask patch of pixels
 * for any other encoder, cut into `maskPatchSize` patches) and the one-layer linear head. Returns them with the
 * number of patches L a mask covers. Used by masked:simmim.
 */
export function buildMaskedPixelParts(
  encoder: Encoder,
  inputShape: readonly [number, number, number],
  maskPatchSize: number,
  rng: Random,
): { parts: SimMimParts; numPatches: number } {
  const vit = encoder instanceof VitEncoder ? encoder : undefined;
  const patchSize = vit ? vit.patchSize : maskPatchSize;
  const [height, width, channels] = inputShape;
  if (!vit && (height % patchSize !== 0 || width % patchSize !== 0)) {
    invalidConfig('maskPatchSize', patchSize, `a divisor of the image's height and width (${height}×${width})`);
  }
  const numPatches = vit ? vit.numPatches : (height / patchSize) * (width / patchSize);
  const patchValues = patchSize * patchSize * channels;
  const maskToken = tfl.sequential({
    layers: [
      tfl.layers.embedding({
        inputDim: 1,
        outputDim: vit ? vit.embedDim : patchValues,
        inputLength: 1,
        embeddingsInitializer: tfl.initializers.truncatedNormal({ stddev: 0.02, seed: rng.seed() }),
        name: 'mask_token',
      }),
    ],
  });
  const head = tfl.sequential({
    layers: [
      tfl.layers.dense({
        inputShape: vit ? [vit.numPatches, vit.embedDim] : [encoder.featureDim],
        units: vit ? patchValues : height * width * channels,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.seed() }),
      }),
    ],
  });
  return { parts: { encoder, maskToken, head, patchSize }, numPatches };
}

/**
 * SimMIM (Xie et al. 2022): replace a random 60% of the patch embeddings with a learnable mask token, run
 * the whole sequence through the ViT, predict the raw pixels of each patch with one linear layer and take
 * the L1 loss on the masked patches only. Unlike MAE the encoder sees the mask tokens and the head is a
 * single layer. Any other encoder (a CNN) is masked at its input: the masked patches' pixels are replaced by a
 * learnable mask patch and one linear layer predicts the image's pixels from the pooled features.
 */
export const simmim = defineMethod<SimMimConfig, 'unlabeled'>({
  name: 'simmim',
  description:
    'SimMIM: learnable mask token at the input (ViT patch embeddings, or pixels for a CNN), a linear layer predicts raw pixels, L1 on masked patches.',
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
    const { parts, numPatches } = buildMaskedPixelParts(createEncoder(), inputShape, config.maskPatchSize, rng);
    if (numKeptPatches(numPatches, config.maskRatio) < 1) {
      invalidConfig('maskRatio', config.maskRatio, `a ratio that leaves at least one of the ${numPatches} patches visible`);
    }
    const { encoder, maskToken, head } = parts;
    return {
      ...parts,
      trainable: { encoder: encoder.model, maskToken, head },
      // The mask token and head, so that predictions can be drawn from a finished run (scripts/reconstruction-grid.ts).
      products: () => ({ maskToken, head }),
      heldOutTask: contextFreeHeldOutTask('masked:simmim', (images, seed) =>
        simmimHeldOutTask(parts, numPatches, config.maskRatio, images, seed),
      ),
      step(batch, context) {
        const images = batch.views[0] ?? batch.images;
        const masking = randomMasking(images.shape[0], numPatches, config.maskRatio, context.rng);
        const loss = simmimBatchLoss(parts, images, masking.mask, true);
        tf.dispose([masking.keepIndices, masking.restoreIndices]);
        return { loss };
      },
    };
  },
});
