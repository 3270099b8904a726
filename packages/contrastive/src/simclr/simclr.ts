import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import {
  checkPolicyOptions,
  defineMethod,
  invalidConfig,
  l2Normalize,
  projectionHead,
  requirePositive,
  requirePositiveInteger,
} from '@ssl/core';
import { simclrViews } from '../views/simclr-views';
import type { SimclrViewOptions } from '../views/simclr-views';
import { ntXentLoss } from '../losses/nt-xent';

/**
 * SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations").
 * Two views of every image from one augmentation distribution, a shared encoder f(·), a projection MLP
 * g(·), and the NT-Xent loss (eq. 1) over the 2N projections: each view must pick out its partner among
 * the 2N − 1 others. Evaluation uses the encoder's pooled features h = f(x), before the projection head
 * (sec. 4.2: h is much better than z = g(h) for linear evaluation).
 */
export interface SimCLRConfig {
  /** NT-Xent temperature τ (paper: 0.1–0.5 depending on batch size; table 5). */
  temperature: number;
  /** Hidden width of the projection MLP g(·). */
  projectionHiddenDim: number;
  /** Output width of g(·): the space where the loss is applied (paper: 128). */
  projectionDim: number;
  /** Linear layers in g(·): 2 (SimCLR) or 3 (SimCLRv2). */
  projectionLayers: 2 | 3;
  /** Batch norm in the hidden layers of g(·) (SimCLR's code uses it with LARS; it helps small CNNs too). */
  projectionBatchNorm: boolean;
  /**
   * Batch norm on g(·)'s output layer, as the authors' code (its last linear layer has `use_bn=True` and no
   * bias). Here without affine parameters: the reference keeps a scale γ but no shift β, and core's head
   * offers both or neither; a shift would move every projection off the origin before the cosine of eq. 1.
   */
  projectionOutputBatchNorm: boolean;
  /** Overrides of the 'simclr' view policy (crop scale, jitter, blur...). */
  views: SimclrViewOptions;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'contrastive:simclr': SimCLRConfig;
  }
}

/**
 * The paper's augmentation (appendix A) scaled to 28×28 grayscale: crops no smaller than 20% of the image
 * (8% leaves a few pixels of a 28-pixel garment), brightness/contrast jitter of strength s = 0.5, i.e.
 * (0.4, 0.4), the paper's CIFAR-10 setting (saturation and hue are no-ops on one channel, grayscale too), and blur with σ up to 1 pixel (the paper's 0.1–2.0 is for 224 px:
 * ~10% of the side).
 */
export const SIMCLR_FASHION_VIEWS: SimclrViewOptions = {
  cropScale: [0.2, 1],
  flipP: 0.5,
  colorJitterStrength: 0.5,
  jitterP: 0.8,
  grayscaleP: 0,
  blurP: 0.5,
  blurSigma: [0.1, 1],
};

/**
 * Checks overrides of the `simclr` view policy; `prefix` names the config field.
 * @deprecated Call `checkPolicyOptions(simclrViews, views, prefix)`, which checks any policy.
 */
export function validateViewOverrides(prefix: string, views: SimclrViewOptions | undefined): void {
  checkPolicyOptions(simclrViews, views, prefix);
}

export const simclr = defineMethod<SimCLRConfig, 'unlabeled'>({
  name: 'simclr',
  description: 'Contrastive learning with two augmented views, a projection head and the NT-Xent loss (Chen et al. 2020).',
  paper: {
    title: 'A Simple Framework for Contrastive Learning of Visual Representations',
    authors: 'Chen, Kornblith, Norouzi, Hinton',
    year: 2020,
    url: 'https://arxiv.org/abs/2002.05709',
  },
  data: 'unlabeled',
  defaults: {
    temperature: 0.2,
    projectionHiddenDim: 256,
    projectionDim: 64,
    projectionLayers: 2,
    projectionBatchNorm: true,
    projectionOutputBatchNorm: true,
    views: SIMCLR_FASHION_VIEWS,
  },
  validate(config) {
    requirePositive('temperature', config.temperature);
    requirePositiveInteger('projectionHiddenDim', config.projectionHiddenDim);
    requirePositiveInteger('projectionDim', config.projectionDim);
    if (config.projectionLayers !== 2 && config.projectionLayers !== 3)
      invalidConfig('projectionLayers', config.projectionLayers, '2 or 3');
    if (typeof config.projectionBatchNorm !== 'boolean') invalidConfig('projectionBatchNorm', config.projectionBatchNorm, 'true or false');
    if (typeof config.projectionOutputBatchNorm !== 'boolean')
      invalidConfig('projectionOutputBatchNorm', config.projectionOutputBatchNorm, 'true or false');
    checkPolicyOptions(simclrViews, config.views, 'views');
  },
  views: (config) => ({ unlabeled: { name: 'simclr', overrides: { ...config.views } } }),
  // The paper trains with LARS at batch 4096. On a small CNN with short budgets, Adam (lr 2e-3) learned
  // where SGD + momentum (lr 0.3) did not beat the random-init encoder (search log in the example README).
  training: {
    optimizer: { kind: 'adam', lr: 2e-3 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 256,
    epochs: 10,
  },
  build({ config, createEncoder, rng }) {
    const encoder = createEncoder();
    const projector = projectionHead({
      inputDim: encoder.featureDim,
      hiddenDim: config.projectionHiddenDim,
      outputDim: config.projectionDim,
      layers: config.projectionLayers,
      batchNorm: config.projectionBatchNorm,
      lastBatchNorm: config.projectionOutputBatchNorm,
      seed: rng.seed(),
    });
    const project = (features: Tensor2D): Tensor2D => projector.apply(features, { training: true }) as Tensor2D;
    return {
      encoder,
      trainable: { encoder: encoder.model, projector },
      step(batch) {
        const [view1, view2] = batch.views;
        if (view1 === undefined || view2 === undefined) {
          invalidConfig('views', batch.views.length, 'two views per image (the simclr policy)');
        }
        // One forward pass over both views, so batch norm sees the 2N images together as in the paper's code.
        const both = tf.concat([view1, view2], 0);
        const projections = project(encoder.features(both, { training: true }));
        const size = view1.shape[0];
        const z1 = tf.slice(projections, [0, 0], [size, -1]) as Tensor2D;
        const z2 = tf.slice(projections, [size, 0], [size, -1]) as Tensor2D;
        const loss = ntXentLoss(z1, z2, { temperature: config.temperature });
        // Alignment: mean cosine of the positive pairs (1 = views agree); a cheap health signal.
        const positiveCosine = tf.mean(tf.sum(tf.mul(l2Normalize(z1), l2Normalize(z2)), 1)) as Scalar;
        return { loss, metrics: { positiveCosine } };
      },
    };
  },
});
