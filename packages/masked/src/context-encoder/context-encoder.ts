import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import { defineMethod, invalidConfig, tfl } from '@ssl/core';
import type { Encoder, HeldOutFigure, ImageDataset, MethodRuntime, Random, StepContext } from '@ssl/core';
import { contextFreeHeldOutTask, contextFreeReferenceName, heldOutVersusContextFree } from '../blocks/held-out';
import { dropRegion, regionMasks, validateRegionMask } from '../blocks/region-mask';
import type { RegionKind, RegionMasks } from '../blocks/region-mask';
import { buildPixelDecoder, glorotSource } from '../dae/decoder';
import { contextEncoderLoss, discriminatorLoss, generatorAdversarialLoss } from '../losses/context-encoder-loss';

export interface ContextEncoderConfig {
  /** 'center' (the paper's central square) or 'random-region' (arbitrary-shaped blobs, see `regionMasks`). */
  region: RegionKind;
  /** Fraction of the image area dropped: 0.25 is the paper's 64 px centre of 128 px images (14 of 28 px here). */
  regionArea: number;
  /** Border pixels of the region shown in the input yet predicted (reference `overlapPred`: 4 of 64 px; 1 of 14 here). */
  overlap: number;
  /** Loss weight of that border relative to the hole (reference `overlapL2Weight` = 10). */
  overlapWeight: number;
  /** Value written into the hole (the reference writes the data mean). */
  fillValue: number;
  /**
   * λ_adv of L = (1 − λ_adv)·L_rec + λ_adv·L_adv (Pathak et al. 2016, eq. 3; the paper's inpainting models use
   * 0.001, with λ_rec = 0.999). 0 trains on the reconstruction alone, without a discriminator.
   */
  adversarialWeight: number;
  /** Width of the decoder's hidden ReLU layer (0: a linear map from the code to the pixels). */
  decoderHidden: number;
  /** Learning rate of the discriminator's Adam (β1 0.5, β2 0.999: the reference's DCGAN settings). */
  discriminatorLr: number;
}

export const CONTEXT_ENCODER_DEFAULTS: ContextEncoderConfig = Object.freeze({
  region: 'center',
  regionArea: 0.25,
  overlap: 1,
  overlapWeight: 10,
  // A grey unlike Fashion-MNIST's black background, so a hole is never mistaken for empty background.
  fillValue: 0.5,
  adversarialWeight: 0,
  decoderHidden: 256,
  discriminatorLr: 2e-4,
});

declare module '@ssl/core' {
  interface MethodConfigs {
    'masked:context-encoder': ContextEncoderConfig;
  }
}

/** What the forward pass, the loss and the pictures need from a built context encoder. */
export interface ContextEncoderParts {
  readonly encoder: Encoder;
  /** Features of the image with its hole → the whole image [N, H, W, C] in (0, 1); only the region is used. */
  readonly decoder: tfl.LayersModel;
  readonly config: ContextEncoderConfig;
}

export interface ContextEncoderRuntime extends MethodRuntime<'unlabeled', ContextEncoderCarry>, ContextEncoderParts {
  /** The small discriminator (only with adversarialWeight > 0): image → one logit. Trained in afterStep. */
  readonly discriminator?: tfl.LayersModel;
}

export interface ContextEncoderCarry {
  /** The images with the prediction pasted into the region: the discriminator's fakes. */
  readonly fakes?: Tensor4D;
}

/** A context encoder's fill of a batch: what it saw, what it predicted and the prediction pasted into the image. */
export interface ContextEncoderFill {
  readonly masks: RegionMasks;
  /** The encoder's input: the image with its hole filled. */
  readonly input: Tensor4D;
  /** The decoder's output for every pixel (only the region is trained). */
  readonly prediction: Tensor4D;
  /** The image with the prediction in the region. */
  readonly pasted: Tensor4D;
}

export function validateContextEncoderConfig(config: ContextEncoderConfig): void {
  validateRegionMask(config);
  for (const field of ['overlapWeight', 'fillValue'] as const) {
    const value = config[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) invalidConfig(field, value, 'a finite number ≥ 0');
  }
  const lambda = config.adversarialWeight;
  if (typeof lambda !== 'number' || !(lambda >= 0 && lambda < 1))
    invalidConfig('adversarialWeight', lambda, 'a number in [0, 1) (the paper uses 0.001; 0 turns the discriminator off)');
  if (!Number.isInteger(config.decoderHidden) || config.decoderHidden < 0)
    invalidConfig('decoderHidden', config.decoderHidden, 'an integer ≥ 0 (0: no hidden layer)');
  if (typeof config.discriminatorLr !== 'number' || !(config.discriminatorLr > 0))
    invalidConfig('discriminatorLr', config.discriminatorLr, 'a positive number');
}

/** Encodes the image with its hole and decodes a full image; the masks come from `rng` (random regions). */
export function contextEncoderFill(
  parts: ContextEncoderParts,
  images: Tensor4D,
  rng: Random | number = 0,
  training = false,
): ContextEncoderFill {
  const { region, hole, input, prediction, pasted } = tf.tidy(() => {
    const masks = regionMasks(images, parts.config, rng);
    const input = dropRegion(images, masks.hole, parts.config.fillValue);
    const prediction = parts.decoder.apply(parts.encoder.features(input, { training }), { training }) as Tensor4D;
    const pasted = tf.add(tf.mul(images, tf.sub(1, masks.region)), tf.mul(prediction, masks.region)) as Tensor4D;
    return { ...masks, input, prediction, pasted };
  });
  return { masks: { region, hole }, input, prediction, pasted };
}

/** The (weighted) reconstruction loss of a batch with its masks drawn from `rng`. */
export function contextEncoderBatchLoss(parts: ContextEncoderParts, images: Tensor4D, rng: Random | number = 0, training = false): Scalar {
  return tf.tidy(() => {
    const { masks, prediction } = contextEncoderFill(parts, images, rng, training);
    return contextEncoderLoss(prediction, images, masks.region, masks.hole, { overlapWeight: parts.config.overlapWeight });
  });
}

/**
 * The context encoder's own task on held-out images: the squared error on the hole, the pixels the encoder never
 * saw (inference mode; random regions drawn from `Random(seed)`), beside the best guess that ignores the context:
 * each pixel's mean over the held-out images' holes.
 */
export async function contextEncoderHeldOutTask(
  parts: ContextEncoderParts,
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  seed: number,
): Promise<HeldOutFigure[]> {
  const [result] = await heldOutVersusContextFree(
    dataset,
    [{ kind: 'mean' }],
    (images, rng) => {
      const { masks, prediction } = contextEncoderFill(parts, images, rng);
      return [
        {
          value: contextEncoderLoss(prediction, images, masks.hole, masks.hole).dataSync()[0],
          targets: images,
          weights: masks.hole,
        },
      ];
    },
    { seed },
  );
  const region = parts.config.region === 'center' ? 'central' : 'random';
  return [
    {
      name: `hole MSE (the ${region} region's unseen pixels, ${Math.round(100 * parts.config.regionArea)}% of the image)`,
      kind: 'error',
      value: result.value,
      reference: { name: contextFreeReferenceName("each pixel's mean"), value: result.reference },
    },
  ];
}

/** A small DCGAN-style discriminator: two strided 4×4 convs (16, 32 channels) with leaky ReLU 0.2, then one logit. */
export function buildDiscriminator(inputShape: readonly [number, number, number], seed?: number): tfl.LayersModel {
  const init = glorotSource(seed);
  const conv = (filters: number, first: boolean) =>
    tfl.layers.conv2d({
      ...(first ? { inputShape: [...inputShape] } : {}),
      filters,
      kernelSize: 4,
      strides: 2,
      padding: 'same',
      kernelInitializer: init(),
    });
  return tfl.sequential({
    layers: [
      conv(16, true),
      tfl.layers.leakyReLU({ alpha: 0.2 }),
      conv(32, false),
      tfl.layers.leakyReLU({ alpha: 0.2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 1, kernelInitializer: init() }),
    ],
  });
}

/** The discriminator's Adam (β1 0.5 as DCGAN), its moments and step count held as method state so checkpoints keep them. */
const ADAM_BETA1 = 0.5;
const ADAM_BETA2 = 0.999;
const ADAM_EPSILON = 1e-8;

function adamState(discriminator: tfl.LayersModel): Record<string, Variable> {
  // tf.variable copies its initial value; the zeros themselves are freed with the scope (tidy keeps variables).
  const state: Record<string, Variable> = {};
  tf.tidy(() => {
    state.discriminatorSteps = tf.variable(tf.scalar(0), false);
    discriminator.trainableWeights.forEach((weight, i) => {
      state[`discriminatorMoment1_${i}`] = tf.variable(tf.zerosLike(weight.read()), false);
      state[`discriminatorMoment2_${i}`] = tf.variable(tf.zerosLike(weight.read()), false);
    });
  });
  return state;
}

/** One Adam step of the discriminator on real images against the context encoder's fakes (runs inside afterStep's tidy). */
function trainDiscriminator(
  discriminator: tfl.LayersModel,
  state: Record<string, Variable>,
  real: Tensor4D,
  fakes: Tensor4D,
  lr: number,
): void {
  const weights = discriminator.trainableWeights.map((weight) => weight.read() as Variable);
  const { grads } = tf.variableGrads(
    () =>
      discriminatorLoss(discriminator.apply(real, { training: true }) as Tensor, discriminator.apply(fakes, { training: true }) as Tensor),
    weights,
  );
  const steps = state.discriminatorSteps;
  steps.assign(tf.add(steps, 1));
  const t = steps.dataSync()[0];
  const correction1 = 1 - ADAM_BETA1 ** t;
  const correction2 = 1 - ADAM_BETA2 ** t;
  weights.forEach((weight, i) => {
    const gradient = grads[weight.name];
    const moment1 = state[`discriminatorMoment1_${i}`];
    const moment2 = state[`discriminatorMoment2_${i}`];
    moment1.assign(tf.add(tf.mul(moment1, ADAM_BETA1), tf.mul(gradient, 1 - ADAM_BETA1)));
    moment2.assign(tf.add(tf.mul(moment2, ADAM_BETA2), tf.mul(tf.square(gradient), 1 - ADAM_BETA2)));
    const update = tf.div(tf.div(moment1, correction1), tf.add(tf.sqrt(tf.div(moment2, correction2)), ADAM_EPSILON));
    weight.assign(tf.sub(weight, tf.mul(update, lr)));
  });
}

/**
 * Context encoder (Pathak et al. 2016): drop a region of the image (the centre, or an arbitrary-shaped random
 * region), encode what is left with the run's encoder, decode the missing pixels, and minimise the squared
 * error on the region (eq. 1), with the reference code's 10× weight on the region's visible border; optionally
 * plus an adversarial loss from a small discriminator trained alongside (eq. 3, λ_adv 0.001), which makes the
 * fill sharper. The representation is the encoder.
 */
export const contextEncoder = defineMethod<ContextEncoderConfig, 'unlabeled', ContextEncoderCarry>({
  name: 'context-encoder',
  description: 'Context encoder: fill a dropped central or random region from its context (L2 on the region, optional adversarial loss).',
  paper: {
    title: 'Context Encoders: Feature Learning by Inpainting',
    authors: 'Pathak, Krähenbühl, Donahue, Darrell, Efros',
    year: 2016,
    url: 'https://arxiv.org/abs/1604.07379',
  },
  data: 'unlabeled',
  defaults: CONTEXT_ENCODER_DEFAULTS,
  validate: validateContextEncoderConfig,
  // The masks are drawn in the step from the trainer's seeded stream; the images are used as they are.
  views: () => ({ unlabeled: 'none' }),
  // Adam, β1 0.5, as the reference (DCGAN settings, lr 2e-4); 1e-3 for short runs on 28×28 images (chosen, not tuned).
  training: { optimizer: { kind: 'adam', lr: 1e-3, beta1: 0.5 }, schedule: { kind: 'constant' }, batchSize: 64, epochs: 20 },
  build({ config, inputShape, createEncoder, rng }): ContextEncoderRuntime {
    const encoder = createEncoder();
    const decoder = buildPixelDecoder({
      inputDim: encoder.featureDim,
      bottleneck: 0,
      hidden: config.decoderHidden,
      outputShape: inputShape,
      seed: rng.seed(),
    });
    const parts: ContextEncoderParts = { encoder, decoder, config };
    const adversarial = config.adversarialWeight > 0;
    const discriminator = adversarial ? buildDiscriminator(inputShape, rng.seed()) : undefined;
    const state = discriminator ? adamState(discriminator) : undefined;
    return {
      ...parts,
      ...(discriminator ? { discriminator, frozen: { discriminator }, state } : {}),
      trainable: { encoder: encoder.model, decoder },
      // The decoder, so that fills can be drawn from a finished run (scripts/reconstruction-grid.ts).
      products: () => ({ decoder }),
      heldOutTask: contextFreeHeldOutTask('masked:context-encoder', (images, seed) => contextEncoderHeldOutTask(parts, images, seed)),
      step(batch, context: StepContext) {
        const images = batch.views[0] ?? batch.images;
        const { masks, prediction, pasted } = contextEncoderFill(parts, images, context.rng, true);
        const reconstruction = contextEncoderLoss(prediction, images, masks.region, masks.hole, { overlapWeight: config.overlapWeight });
        if (!discriminator) return { loss: reconstruction };
        // The discriminator is frozen here (its weights are not in `trainable`); afterStep trains it on these fakes.
        const adversarialLoss = generatorAdversarialLoss(discriminator.apply(pasted, { training: true }) as Tensor);
        const lambda = config.adversarialWeight;
        const loss = tf.add(tf.mul(reconstruction, 1 - lambda), tf.mul(adversarialLoss, lambda)) as Scalar;
        return { loss, metrics: { reconstruction, adversarial: adversarialLoss }, carry: { fakes: pasted } };
      },
      afterStep(batch, _context, carry) {
        if (!discriminator || !state || !carry?.fakes) return;
        trainDiscriminator(discriminator, state, batch.views[0] ?? batch.images, carry.fakes, config.discriminatorLr);
      },
    };
  },
});
