import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, defineMethod, invalidConfig } from '@ssl/core';
import type { MethodRuntime, tfl } from '@ssl/core';
import { corrupt, corruptionMask, validateCorruption } from '../blocks/corruption';
import { denoisingHeldOutTask } from '../dae/dae';
import { buildPixelDecoder } from '../dae/decoder';
import { contextFreeHeldOutTask } from '../blocks/held-out';
import { denoisingLoss } from '../losses/denoising-loss';
import { StackedEncoder, codeLayer, denseModel } from './stacked-encoder';

export interface StackedDaeConfig {
  /** Masking noise ν of every round, on the images (round 0, fine-tuning) and on the codes (rounds 1…L). */
  maskingRate: number;
  /** Additive Gaussian noise of every round; 0 for none. */
  gaussianStd: number;
  /** α of the weighted reconstruction loss (corrupted components). */
  corruptedWeight: number;
  /** β of the weighted reconstruction loss (clean components). */
  cleanWeight: number;
  /** Hidden width of round 0's pixel decoder (features → hidden → pixels); 0 for none. */
  decoderHidden: number;
  /** Widths of the dense code layers stacked on the encoder's features, one per round after round 0. */
  layers: number[];
  /** A last round that trains the whole stack end to end as one deep DAE on pixels, through the unrolled decoders. */
  fineTune: boolean;
}

export const STACKED_DAE_DEFAULTS: StackedDaeConfig = Object.freeze({
  maskingRate: 0.25,
  gaussianStd: 0,
  corruptedWeight: 1,
  cleanWeight: 0.5,
  decoderHidden: 256,
  layers: [64, 32],
  fineTune: true,
});

declare module '@ssl/core' {
  interface MethodConfigs {
    'masked:stacked-dae': StackedDaeConfig;
  }
}

/** The runtime of one round: the stack so far, its decoders (decoders[k] inverts layer k; decoders[0] → pixels). */
export interface StackedDaeRuntime extends MethodRuntime<'unlabeled'> {
  readonly encoder: StackedEncoder;
  readonly decoders: readonly tfl.LayersModel[];
  /** 'pixels' (round 0), 'layer' (greedy round k ≥ 1) or 'fine-tune'. */
  readonly phase: 'pixels' | 'layer' | 'fine-tune';
}

export function validateStackedDaeConfig(config: StackedDaeConfig): void {
  validateCorruption(config);
  for (const field of ['corruptedWeight', 'cleanWeight'] as const) {
    const value = config[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) invalidConfig(field, value, 'a finite number ≥ 0');
  }
  if (config.corruptedWeight === 0 && config.cleanWeight === 0)
    invalidConfig('cleanWeight', 0, 'a positive number when corruptedWeight is 0 (otherwise the loss is always 0)');
  if (!Number.isInteger(config.decoderHidden) || config.decoderHidden < 0)
    invalidConfig('decoderHidden', config.decoderHidden, 'an integer ≥ 0 (0: no hidden layer)');
  if (!Array.isArray(config.layers))
    invalidConfig('layers', config.layers, 'an array of positive integers (widths of the stacked code layers)');
  config.layers.forEach((width, i) => {
    if (!Number.isInteger(width) || width < 1) invalidConfig(`layers[${i}]`, width, 'a positive integer');
  });
  if (typeof config.fineTune !== 'boolean') invalidConfig('fineTune', config.fineTune, 'true or false');
}

/** Round count: the pixel DAE, one greedy round per stacked layer, and the optional fine-tuning round. */
export function stackedDaeRounds(config: StackedDaeConfig): number {
  return 1 + config.layers.length + (config.fineTune ? 1 : 0);
}

/** The seeds of the stack's code layers so far (its spec's), for the next round's encoder. */
const layerSeeds = (encoder: StackedEncoder): number[] => encoder.spec?.layers.map((layer) => layer.seed) ?? [];

/** Decodes a top code back to pixels through decoders[k], …, decoders[0] (the unrolled deep autoencoder). */
export function decodeToPixels(decoders: readonly tfl.LayersModel[], code: Tensor2D, training = false): Tensor4D {
  return tf.tidy(() => {
    let x: tf.Tensor = code;
    for (let k = decoders.length - 1; k >= 0; k--) x = decoders[k].apply(x, { training }) as tf.Tensor;
    return x as Tensor4D;
  });
}

function previousRuntime(previous: MethodRuntime | undefined, round: number): StackedDaeRuntime {
  const runtime = previous as StackedDaeRuntime | undefined;
  if (!runtime || !(runtime.encoder instanceof StackedEncoder)) {
    throw new SslError(
      'invalid-config',
      `masked:stacked-dae round ${round} needs the previous round's stacked-dae runtime as BuildContext.previous.`,
    );
  }
  return runtime;
}

const named = (prefix: string, models: readonly tfl.LayersModel[], from = 0) =>
  Object.fromEntries(models.map((model, i) => [`${prefix}${i + from}`, model]));

/**
 * Stacked denoising autoencoder (Vincent et al. 2010, Sec. 3.5): greedy layer-wise training on the
 * contract's rounds. Round 0 trains a DAE on images with the run's encoder; round k ≥ 1 adds a dense ReLU
 * layer on the frozen stack's code z and trains it as a DAE on z (corrupt z, reconstruct z with a linear
 * decoder); the optional last round fine-tunes everything end to end as one deep DAE on pixels, decoding
 * through the layers' decoders in reverse. The representation is the top code of the stack.
 */
export const stackedDae = defineMethod<StackedDaeConfig, 'unlabeled'>({
  name: 'stacked-dae',
  description: 'Stacked denoising autoencoder: greedy layer-wise DAE rounds on the previous code, then optional end-to-end fine-tuning.',
  paper: {
    title: 'Stacked Denoising Autoencoders: Learning Useful Representations in a Deep Network with a Local Denoising Criterion',
    authors: 'Vincent, Larochelle, Lajoie, Bengio, Manzagol',
    year: 2010,
    url: 'https://jmlr.org/papers/v11/vincent10a.html',
  },
  data: 'unlabeled',
  defaults: STACKED_DAE_DEFAULTS,
  validate: validateStackedDaeConfig,
  rounds: stackedDaeRounds,
  // The image rounds (0 and fine-tuning) read the corrupted view; the code rounds corrupt the code themselves.
  views: (config) => ({ unlabeled: { name: 'corrupt', overrides: { maskingRate: config.maskingRate, gaussianStd: config.gaussianStd } } }),
  training: { optimizer: { kind: 'adam', lr: 1e-3 }, schedule: { kind: 'constant' }, batchSize: 64, epochs: 5 },
  build({ config, inputShape, createEncoder, rng, round, previous }): StackedDaeRuntime {
    const weights = { corruptedWeight: config.corruptedWeight, cleanWeight: config.cleanWeight };
    const corruption = { maskingRate: config.maskingRate, gaussianStd: config.gaussianStd };
    const pixelLoss = (encoder: StackedEncoder, decoders: readonly tfl.LayersModel[], images: Tensor4D, corrupted: Tensor4D): Scalar =>
      denoisingLoss(
        decodeToPixels(decoders, encoder.code(corrupted, { training: true }), true),
        images,
        corruptionMask(corrupted, images),
        weights,
      );

    // Every round reports the pixels rebuilt through the whole stack so far (its decoders unrolled).
    const heldOutTask = (encoder: StackedEncoder, decoders: readonly tfl.LayersModel[]) =>
      contextFreeHeldOutTask('masked:stacked-dae', (images, seed) =>
        denoisingHeldOutTask(
          (corrupted) => decodeToPixels(decoders, encoder.code(corrupted)),
          images,
          config,
          seed,
          'denoising loss through the stack',
        ),
      );

    if (round === 0) {
      const base = createEncoder();
      const decoder = buildPixelDecoder({
        inputDim: base.featureDim,
        bottleneck: 0,
        hidden: config.decoderHidden,
        outputShape: inputShape,
        seed: rng.seed(),
      });
      const encoder = new StackedEncoder(base, [], []);
      return {
        encoder,
        decoders: [decoder],
        phase: 'pixels',
        trainable: { encoder: base.model, decoder0: decoder },
        heldOutTask: heldOutTask(encoder, [decoder]),
        step: (batch) => ({ loss: pixelLoss(encoder, [decoder], batch.images, batch.views[0]) }),
      };
    }

    const before = previousRuntime(previous, round);
    const base = before.encoder.base;
    const layers = before.encoder.codeLayers;
    if (round <= config.layers.length) {
      // Greedy round k: a new layer on the frozen code of the stack below (Vincent et al. 2010, Fig. 3).
      const inputDim = before.encoder.featureDim;
      const code = { units: config.layers[round - 1], seed: rng.seed() };
      const layer = codeLayer(inputDim, code);
      const decoder = denseModel(code.units, inputDim, 'linear', rng.seed());
      const encoder = new StackedEncoder(base, [...layers, layer], [...layerSeeds(before.encoder), code.seed]);
      return {
        encoder,
        decoders: [...before.decoders, decoder],
        phase: 'layer',
        heldOutTask: heldOutTask(encoder, [...before.decoders, decoder]),
        trainable: { [`layer${round}`]: layer, [`decoder${round}`]: decoder },
        // Everything below is frozen: held here so checkpoints save it and a resumed run restores it.
        frozen: { encoder: base.model, ...named('layer', layers, 1), ...named('decoder', before.decoders) },
        step(batch, context) {
          // The clean code of the frozen stack, in inference mode (batch norm on its moving statistics).
          const target = tf.tidy(() => encoder.code(batch.images, { training: false }, round - 1));
          const corrupted = corrupt(target, corruption, context.rng);
          const reconstruction = decoder.apply(layer.apply(corrupted, { training: true }), { training: true }) as Tensor2D;
          return { loss: denoisingLoss(reconstruction, target, corruptionMask(corrupted, target), weights) };
        },
      };
    }

    // Fine-tuning: the whole stack and every decoder, trained together on pixels.
    const encoder = new StackedEncoder(base, layers, layerSeeds(before.encoder));
    const decoders = before.decoders;
    return {
      encoder,
      decoders,
      phase: 'fine-tune',
      heldOutTask: heldOutTask(encoder, decoders),
      trainable: { encoder: base.model, ...named('layer', layers, 1), ...named('decoder', decoders) },
      step: (batch) => ({ loss: pixelLoss(encoder, decoders, batch.images, batch.views[0]) }),
    };
  },
});
