import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import {
  checkPolicyOptions,
  copyWeights,
  cosineMomentum,
  defineMethod,
  forwardViews,
  invalidConfig,
  l2Normalize,
  noGradient,
  projectionHead,
  requirePositiveInteger,
  stopGradient,
} from '@ssl/core';
import { simclrViews } from '../views/simclr-views';
import type { SimclrViewOptions } from '../views/simclr-views';
import { infoNceLoss } from '../losses/info-nce';
import { createFeatureQueue, enqueueFeatures } from '../blocks/feature-queue';

/**
 * MoCo v2 (He et al. 2020, "Momentum Contrast for Unsupervised Visual Representation Learning"; Chen, Fan,
 * Girshick, He 2020, "Improved Baselines with Momentum Contrastive Learning"). A query encoder f_q (+ MLP
 * head) and a key encoder f_k that is an EMA of it (eq. 2); each query must pick out the key of another view
 * of its image among K negative keys held in a FIFO queue (InfoNCE, eq. 1). The queue is read as it was
 * before this step (Algorithm 1: logits, loss, update, then enqueue), and this step's keys are enqueued in
 * afterStep from the carry, with no second forward pass.
 */
export interface MoCoConfig {
  /** InfoNCE τ (MoCo v1: 0.07, v2: 0.2). */
  temperature: number;
  /** K, negatives in the queue (paper: 65536 on ImageNet, 4096 on CIFAR). Keep it below the number of training images. */
  queueSize: number;
  /** Hidden width of the MLP head (v2: 2048). */
  projectionHiddenDim: number;
  /** Output width of the head, the space of the queue (paper: 128). */
  projectionDim: number;
  /** Batch norm in the head's hidden layer (MoCo v2's head has none; SimCLR's code and solo-learn's MoCo v2+ use it). */
  projectionBatchNorm: boolean;
  /** m at the start of the key encoder's cosine EMA schedule (paper: a constant 0.999 over ~1M steps). */
  baseMomentum: number;
  /** m at the end of training. */
  finalMomentum: number;
  /** Also use view 2 as query against view 1's key and average (solo-learn's "MoCo v2+"); the paper: false. */
  symmetric: boolean;
  /** Overrides of the 'simclr' view policy, which is MoCo v2's augmentation (crop, jitter, grayscale, blur, flip). */
  views: SimclrViewOptions;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'contrastive:moco': MoCoConfig;
  }
}

/**
 * MoCo v2's augmentation (its main_moco.py `--aug-plus`: crop scale (0.2, 1), jitter (0.4, 0.4, 0.4, 0.1)
 * with p = 0.8, grayscale 0.2, blur σ ∈ (0.1, 2) with p = 0.5, flip) on 28×28 grayscale: grayscale is a no-op
 * on one channel and σ is scaled to the image (up to 1 pixel, as SIMCLR_FASHION_VIEWS).
 */
export const MOCO_V2_FASHION_VIEWS: SimclrViewOptions = {
  cropScale: [0.2, 1],
  flipP: 0.5,
  colorJitterStrength: 0.5,
  jitterP: 0.8,
  grayscaleP: 0,
  blurP: 0.5,
  blurSigma: [0.1, 1],
};

/** What MoCo's step hands to afterStep: this step's L2-normalised keys, to enqueue. */
export interface MoCoCarry {
  readonly keys: Tensor2D;
}

function checkPositiveNumber(field: string, value: number, paper: string): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0))
    invalidConfig(field, value, `a finite number > 0 (paper: ${paper})`);
}

/** Checks an EMA schedule base → final with 0 ≤ base ≤ final ≤ 1. */
export function checkMomentumSchedule(config: { baseMomentum: number; finalMomentum: number }): void {
  if (!(typeof config.baseMomentum === 'number' && config.baseMomentum >= 0 && config.baseMomentum <= 1)) {
    invalidConfig('baseMomentum', config.baseMomentum, 'a number in [0, 1]');
  }
  if (!(typeof config.finalMomentum === 'number' && config.finalMomentum >= config.baseMomentum && config.finalMomentum <= 1)) {
    invalidConfig('finalMomentum', config.finalMomentum, `a number in [baseMomentum = ${config.baseMomentum}, 1]`);
  }
}

export function requireTwoViews(views: readonly Tensor4D[]): [Tensor4D, Tensor4D] {
  const [view1, view2] = views;
  if (view1 === undefined || view2 === undefined) invalidConfig('views', views.length, 'two views per image (the simclr policy)');
  return [view1, view2];
}

export const moco = defineMethod<MoCoConfig, 'unlabeled', MoCoCarry>({
  name: 'moco',
  description:
    'Momentum contrast: queries vs. an EMA key encoder’s keys, negatives from a FIFO queue of past keys (MoCo v2, He et al. 2020).',
  paper: {
    title: 'Improved Baselines with Momentum Contrastive Learning',
    authors: 'Chen, Fan, Girshick, He',
    year: 2020,
    url: 'https://arxiv.org/abs/2003.04297',
  },
  data: 'unlabeled',
  defaults: {
    temperature: 0.2,
    queueSize: 4096,
    projectionHiddenDim: 256,
    projectionDim: 64,
    projectionBatchNorm: false,
    baseMomentum: 0.99,
    finalMomentum: 0.999,
    symmetric: false,
    views: MOCO_V2_FASHION_VIEWS,
  },
  validate(config) {
    checkPositiveNumber('temperature', config.temperature, '0.2');
    requirePositiveInteger('queueSize', config.queueSize);
    requirePositiveInteger('projectionHiddenDim', config.projectionHiddenDim);
    requirePositiveInteger('projectionDim', config.projectionDim);
    if (typeof config.projectionBatchNorm !== 'boolean') invalidConfig('projectionBatchNorm', config.projectionBatchNorm, 'true or false');
    checkMomentumSchedule(config);
    if (typeof config.symmetric !== 'boolean') invalidConfig('symmetric', config.symmetric, 'true or false');
    checkPolicyOptions(simclrViews, config.views, 'views');
  },
  views: (config) => ({ unlabeled: { name: 'simclr', overrides: { ...config.views } } }),
  // The paper: SGD lr 0.03 × batch/256, momentum 0.9, weight decay 1e-4, cosine, 200 epochs. As for SimCLR,
  // Adam is what learns on a small CNN in a few epochs.
  training: {
    optimizer: { kind: 'adam', lr: 2e-3 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 256,
    epochs: 10,
  },
  build({ config, createEncoder, rng }) {
    const encoder = createEncoder();
    const keyEncoder = createEncoder();
    // MoCo v2's head: Linear → ReLU → Linear (with `projectionBatchNorm`, Linear → BN → ReLU → Linear).
    const headConfig = {
      inputDim: encoder.featureDim,
      hiddenDim: config.projectionHiddenDim,
      outputDim: config.projectionDim,
      layers: 2 as const,
      batchNorm: config.projectionBatchNorm,
    };
    const projector = projectionHead({ ...headConfig, seed: rng.seed() });
    const keyProjector = projectionHead({ ...headConfig, seed: rng.seed() });
    // "θ_k is initialised as θ_q" (the reference code copies the query encoder's parameters).
    copyWeights(keyEncoder.model, encoder.model);
    copyWeights(keyProjector, projector);
    const queue = createFeatureQueue({ size: config.queueSize, dim: config.projectionDim, seed: rng.seed() });

    const query = (x: Tensor4D): Tensor2D => projector.apply(encoder.features(x, { training: true }), { training: true }) as Tensor2D;
    // Keys carry no gradient (torch.no_grad in Algorithm 1: the key encoder's forward runs off the tape, so none
    // of its activations is kept for the backward) and are normalised before they are queued.
    const key = (x: Tensor4D): Tensor2D =>
      noGradient(() => l2Normalize(keyProjector.apply(keyEncoder.features(x, { training: true }), { training: true }) as Tensor2D));

    return {
      encoder,
      trainable: { encoder: encoder.model, projector },
      frozen: { keyEncoder: keyEncoder.model, keyProjector },
      state: { queue: queue.features, queuePointer: queue.pointer },
      step(batch) {
        const [view1, view2] = requireTwoViews(batch.views);
        // Shuffling BN is a multi-GPU trick; here each view is its own batch for each encoder (see the README).
        const negatives = queue.features as unknown as Tensor2D;
        const options = { temperature: config.temperature };
        if (!config.symmetric) {
          const [queries] = forwardViews(query, [view1], 'per-view');
          const [keys] = forwardViews(key, [view2], 'per-view');
          return {
            loss: infoNceLoss(queries, keys, negatives, options),
            metrics: { keyAccuracy: keyAccuracy(queries, keys, negatives) },
            carry: { keys },
          };
        }
        const [queries1, queries2] = forwardViews(query, [view1, view2], 'per-view');
        const [keys1, keys2] = forwardViews(key, [view1, view2], 'per-view');
        const loss = tf.mul(
          tf.add(infoNceLoss(queries1, keys2, negatives, options), infoNceLoss(queries2, keys1, negatives, options)),
          0.5,
        ) as Scalar;
        return { loss, metrics: { keyAccuracy: keyAccuracy(queries1, keys2, negatives) }, carry: { keys: tf.concat([keys2, keys1], 0) } };
      },
      // Algorithm 1's enqueue after the update: the queue read by this step's loss is the one from before it.
      afterStep(_batch, _context, carry) {
        if (carry) enqueueFeatures(queue, carry.keys);
      },
      // The key encoder follows the query encoder, θ_k ← m·θ_k + (1 − m)·θ_q (eq. 2), with m on a cosine
      // schedule: the paper's constant 0.999 over a million steps barely moves in a few hundred.
      momentumPairs: {
        pairs: [
          { target: keyEncoder.model, source: encoder.model },
          { target: keyProjector, source: projector },
        ],
        momentum: ({ progress }) => cosineMomentum(config.baseMomentum, progress, config.finalMomentum),
      },
    };
  },
});

/** Fraction of queries whose positive key beats every queued negative (the reference code's acc@1). */
function keyAccuracy(queries: Tensor2D, keys: Tensor2D, negatives: Tensor2D): Scalar {
  return tf.tidy(() => {
    const q = l2Normalize(stopGradient(queries));
    const positive = tf.sum(tf.mul(q, keys), 1);
    const hardestNegative = tf.max(tf.matMul(q, negatives, false, true), 1);
    return tf.mean(tf.cast(tf.greater(positive, hardestNegative), 'float32')) as Scalar;
  });
}
