import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor4D } from '@tensorflow/tfjs-core';
import { defineMethod, invalidConfig } from '@ssl/core';
import type { Encoder, HeldOutFigure, ImageDataset, MethodRuntime, tfl } from '@ssl/core';
import { corrupt, corruptionMask, validateCorruption } from '../blocks/corruption';
import type { CorruptionOptions } from '../blocks/corruption';
import { contextFreeHeldOutTask, contextFreeReferenceName, heldOutVersusContextFree } from '../blocks/held-out';
import { denoisingLoss } from '../losses/denoising-loss';
import { buildPixelDecoder } from './decoder';

export interface DaeConfig {
  /** Fraction ν of each image's pixel values set to 0 (masking noise); in [0, 1). Vincent et al. 2010 sweep 0–0.5. */
  maskingRate: number;
  /** Standard deviation of additive Gaussian noise (after the masking); 0 for none. */
  gaussianStd: number;
  /** α: weight of the squared error on corrupted pixels (Vincent et al. 2010, Sec. 4.3). */
  corruptedWeight: number;
  /** β: weight on pixels the corruption left intact; β < α emphasizes denoising over copying. */
  cleanWeight: number;
  /**
   * Width of a linear bottleneck between the encoder's features and the decoder; 0 decodes the features
   * directly (then the encoder's featureDim is the latent size). The lecture's warning: an autoencoder
   * whose latent is too large can copy its input and learn nothing interesting.
   */
  bottleneck: number;
  /** Width of the decoder's hidden ReLU layer; 0 for none. */
  decoderHidden: number;
}

export const DAE_DEFAULTS: DaeConfig = Object.freeze({
  maskingRate: 0.25,
  gaussianStd: 0,
  corruptedWeight: 1,
  // Emphasized DAE (Vincent et al. 2010, Sec. 4.3): half weight on the pixels the network could copy. Chosen, not tuned.
  cleanWeight: 0.5,
  bottleneck: 32,
  decoderHidden: 256,
});

declare module '@ssl/core' {
  interface MethodConfigs {
    'masked:dae': DaeConfig;
  }
}

/** What `daeForward` and the tests need from a built DAE. */
export interface DaeParts {
  readonly encoder: Encoder;
  /** Features → [bottleneck] → [hidden] → pixels [N, H, W, C] in (0, 1). Discarded after training. */
  readonly decoder: tfl.LayersModel;
  readonly corruptedWeight: number;
  readonly cleanWeight: number;
}

export interface DaeRuntime extends MethodRuntime<'unlabeled'>, DaeParts {}

/** Throws SslError('invalid-config') naming the first bad field of a DAE config. */
export function validateDaeConfig(config: DaeConfig): void {
  validateCorruption(config);
  for (const field of ['corruptedWeight', 'cleanWeight'] as const) {
    const value = config[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) invalidConfig(field, value, 'a finite number ≥ 0');
  }
  if (config.corruptedWeight === 0 && config.cleanWeight === 0)
    invalidConfig('cleanWeight', 0, 'a positive number when corruptedWeight is 0 (otherwise the loss is always 0)');
  if (config.maskingRate === 0 && config.gaussianStd === 0 && config.cleanWeight === 0) {
    invalidConfig('cleanWeight', 0, 'a positive number when there is no corruption (maskingRate = gaussianStd = 0: every pixel is clean)');
  }
  if (!Number.isInteger(config.bottleneck) || config.bottleneck < 0)
    invalidConfig('bottleneck', config.bottleneck, 'an integer ≥ 0 (0: decode the encoder features directly)');
  if (!Number.isInteger(config.decoderHidden) || config.decoderHidden < 0)
    invalidConfig('decoderHidden', config.decoderHidden, 'an integer ≥ 0 (0: no hidden layer)');
}

/** Reconstruction g(f(x̃)) of (corrupted) images: [N, H, W, C] in (0, 1). */
export function daeReconstruct(parts: Pick<DaeParts, 'encoder' | 'decoder'>, corrupted: Tensor4D, training = false): Tensor4D {
  return tf.tidy(() => parts.decoder.apply(parts.encoder.features(corrupted, { training }), { training }) as Tensor4D);
}

/** The weighted DAE loss of clean `images` and their corrupted versions (J = where they differ). */
export function daeBatchLoss(parts: DaeParts, images: Tensor4D, corrupted: Tensor4D, training = false): Scalar {
  return tf.tidy(() =>
    denoisingLoss(daeReconstruct(parts, corrupted, training), images, corruptionMask(corrupted, images), {
      corruptedWeight: parts.corruptedWeight,
      cleanWeight: parts.cleanWeight,
    }),
  );
}

/**
 * The held-out read-out of a pixel denoising autoencoder (`masked:dae`, `masked:stacked-dae`): each batch is
 * corrupted with ν from `Random(seed)`, rebuilt by `reconstruct` (inference mode) and scored with the weighted
 * denoising loss, beside the best guess that ignores the input: each pixel's mean over the held-out images,
 * weighted as the loss weights it (α where corrupted, β elsewhere).
 */
export async function denoisingHeldOutTask(
  reconstruct: (corrupted: Tensor4D) => Tensor4D,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  corruption: CorruptionOptions & { corruptedWeight: number; cleanWeight: number },
  seed: number,
  name = 'denoising loss',
): Promise<HeldOutFigure[]> {
  const weights = { corruptedWeight: corruption.corruptedWeight, cleanWeight: corruption.cleanWeight };
  const [result] = await heldOutVersusContextFree(
    dataset,
    [{ kind: 'mean' }],
    (images, rng) => {
      const corrupted = corrupt(images, corruption, rng);
      const mask = corruptionMask(corrupted, images);
      return [
        {
          value: denoisingLoss(reconstruct(corrupted), images, mask, weights).dataSync()[0],
          targets: images,
          weights: tf.add(tf.mul(mask, weights.corruptedWeight), tf.mul(tf.sub(1, mask), weights.cleanWeight)),
          // The loss is a mean over every pixel value, whatever its weight.
          normalizer: images.size,
        },
      ];
    },
    { seed },
  );
  const percent = Math.round(100 * corruption.maskingRate);
  return [
    {
      name: `${name} (${percent}% masking noise${corruption.gaussianStd > 0 ? `, Gaussian σ ${corruption.gaussianStd}` : ''}, weights ${weights.corruptedWeight} / ${weights.cleanWeight})`,
      kind: 'error',
      value: result.value,
      reference: { name: contextFreeReferenceName("each pixel's mean"), value: result.reference },
    },
  ];
}

/**
 * Denoising autoencoder (Vincent et al. 2008, 2010): corrupt the image with ν (masking noise, Gaussian
 * noise: the masked plugin's 'corrupt' view policy), encode it with the run's encoder, decode the clean
 * image, and minimise ‖g(f(ν(x))) − x‖² weighted by the corruption mask (α on corrupted, β on clean pixels).
 * The representation is the encoder; the bottleneck and the decoder exist only to train it.
 */
export const dae = defineMethod<DaeConfig, 'unlabeled'>({
  name: 'dae',
  description: 'Denoising autoencoder: reconstruct clean images from masked / Gaussian-noised ones, loss weighted by the corruption mask.',
  paper: {
    title: 'Stacked Denoising Autoencoders: Learning Useful Representations in a Deep Network with a Local Denoising Criterion',
    authors: 'Vincent, Larochelle, Lajoie, Bengio, Manzagol',
    year: 2010,
    url: 'https://jmlr.org/papers/v11/vincent10a.html',
  },
  data: 'unlabeled',
  defaults: DAE_DEFAULTS,
  validate: validateDaeConfig,
  views: (config) => ({ unlabeled: { name: 'corrupt', overrides: { maskingRate: config.maskingRate, gaussianStd: config.gaussianStd } } }),
  // Adam at 1e-3, constant: the usual autoencoder recipe (chosen, not tuned; the paper used plain SGD).
  training: { optimizer: { kind: 'adam', lr: 1e-3 }, schedule: { kind: 'constant' }, batchSize: 64, epochs: 20 },
  build({ config, inputShape, createEncoder, rng }): DaeRuntime {
    const encoder = createEncoder();
    const decoder = buildPixelDecoder({
      inputDim: encoder.featureDim,
      bottleneck: config.bottleneck,
      hidden: config.decoderHidden,
      outputShape: inputShape,
      seed: rng.seed(),
    });
    const parts: DaeParts = { encoder, decoder, corruptedWeight: config.corruptedWeight, cleanWeight: config.cleanWeight };
    return {
      ...parts,
      trainable: { encoder: encoder.model, decoder },
      // The decoder, so that reconstructions can be drawn from a finished run (scripts/reconstruction-grid.ts).
      products: () => ({ decoder }),
      heldOutTask: contextFreeHeldOutTask('masked:dae', (images, seed) =>
        denoisingHeldOutTask((corrupted) => daeReconstruct(parts, corrupted), images, config, seed),
      ),
      step(batch) {
        const corrupted = batch.views[0];
        const mask = corruptionMask(corrupted, batch.images);
        const reconstruction = daeReconstruct(parts, corrupted, true);
        const loss = denoisingLoss(reconstruction, batch.images, mask, {
          corruptedWeight: config.corruptedWeight,
          cleanWeight: config.cleanWeight,
        });
        return { loss, metrics: { corruptedFraction: tf.mean(mask) as Scalar } };
      },
    };
  },
});
