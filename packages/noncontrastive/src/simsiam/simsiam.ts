import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import {
  checkPolicyOptions,
  defineMethod,
  forwardViews,
  invalidConfig,
  predictionHead,
  projectionHead,
  requirePositiveInteger,
  stopGradient,
} from '@ssl/core';
import { byolViews } from '../views/byol-views';
import type { ByolViewOptions } from '../views/byol-views';
import { negativeCosineSimilarity } from '../losses/negative-cosine-similarity';
import { normalizedStd } from '../diagnostics/normalized-std';
import { effectiveRank } from '../diagnostics/effective-rank';

/**
 * SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation Learning"). One encoder f (backbone +
 * projection MLP) and a prediction MLP h; the loss is the symmetric negative cosine between the prediction
 * of one view and the stop-gradient projection of the other (eq. 4). No momentum encoder, no negatives:
 * stop-gradient alone keeps it from collapsing (sec. 4.1), which `stopGradient: false` shows.
 */
export interface SimSiamConfig {
  /** Hidden width of the projection MLP (paper: 2048). */
  projectionHiddenDim: number;
  /** Output width of the projection MLP and of the predictor (paper: 2048). */
  projectionDim: number;
  /** Linear layers of the projection MLP: 3 (ImageNet, sec. 4) or 2 (the paper's CIFAR variant, appendix D). */
  projectionLayers: 2 | 3;
  /**
   * Batch norm (no γ/β) on the projection MLP's output, as the paper's ImageNet model. In training mode it
   * standardizes every output dimension over the batch, so the output cannot be constant even without
   * stop-gradient; `false` is the setting where the collapse of sec. 4.1 shows in the output std (README).
   */
  outputBatchNorm: boolean;
  /** Bottleneck width of the predictor (paper: 512, a quarter of the output width, sec. 4.4). */
  predictorHiddenDim: number;
  /** D(p₁, stopgrad(z₂)) as the paper; `false` is the collapse ablation of sec. 4.1 (fig. 2). */
  stopGradient: boolean;
  /** Overrides of the 'byol' view policy, used symmetrically (SimSiam's views are MoCo v2's: blur p 0.5 on both). */
  views: ByolViewOptions;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'noncontrastive:simsiam': SimSiamConfig;
  }
}

/**
 * SimSiam's augmentation (MoCo v2's: crop of at least 20%, jitter 0.4/0.4/0.4/0.1 with p 0.8, grayscale
 * p 0.2, blur p 0.5, flip) on 28×28 grayscale: the same crop scale and blur σ as BYOL_FASHION_VIEWS, blur
 * with p 0.5 on both views and no solarisation (the views are symmetric, unlike BYOL's).
 */
export const SIMSIAM_FASHION_VIEWS: ByolViewOptions = {
  cropScale: [0.2, 1],
  flipP: 0.5,
  jitterStrength: 1,
  jitterP: 0.8,
  grayscaleP: 0,
  blurSigma: [0.1, 1],
  blurP1: 0.5,
  blurP2: 0.5,
  solarizeP1: 0,
  solarizeP2: 0,
};

export const simsiam = defineMethod<SimSiamConfig, 'unlabeled'>({
  name: 'simsiam',
  description:
    'Predictor + stop-gradient on a shared siamese encoder: symmetric negative cosine, no negatives, no momentum encoder (Chen & He 2021).',
  paper: {
    title: 'Exploring Simple Siamese Representation Learning',
    authors: 'Chen, He',
    year: 2021,
    url: 'https://arxiv.org/abs/2011.10566',
  },
  data: 'unlabeled',
  defaults: {
    projectionHiddenDim: 512,
    projectionDim: 512,
    projectionLayers: 3,
    outputBatchNorm: true,
    predictorHiddenDim: 128,
    stopGradient: true,
    views: SIMSIAM_FASHION_VIEWS,
  },
  validate(config) {
    requirePositiveInteger('projectionHiddenDim', config.projectionHiddenDim);
    requirePositiveInteger('projectionDim', config.projectionDim);
    requirePositiveInteger('predictorHiddenDim', config.predictorHiddenDim);
    if (config.projectionLayers !== 2 && config.projectionLayers !== 3)
      invalidConfig('projectionLayers', config.projectionLayers, '2 or 3');
    if (typeof config.outputBatchNorm !== 'boolean') invalidConfig('outputBatchNorm', config.outputBatchNorm, 'true or false');
    if (typeof config.stopGradient !== 'boolean') invalidConfig('stopGradient', config.stopGradient, 'true or false');
    checkPolicyOptions(byolViews, config.views, 'views');
  },
  views: (config) => ({ unlabeled: { name: 'byol', overrides: { ...config.views } } }),
  // The paper: SGD, lr 0.05 × batch/256, momentum 0.9, weight decay 1e-4, cosine (sec. 4). On the small CNN
  // and the 3000-image sample, 3 epochs of SGD (lr 0.05 at batch 128, lr 0.1 at batch 64) ended 4 points
  // below the random-init encoder on kNN, Adam lr 1e-3 at batch 128 about 1–2 points below (README).
  training: {
    optimizer: { kind: 'adam', lr: 1e-3 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 128,
    epochs: 10,
  },
  build({ config, createEncoder, rng }) {
    const encoder = createEncoder();
    // Sec. 4 (ImageNet): every layer of the projection MLP has BN, the output's without γ/β
    // (BatchNorm1d(affine=False) in the authors' builder); hidden layers Linear → BN → ReLU.
    const projector = projectionHead({
      inputDim: encoder.featureDim,
      hiddenDim: config.projectionHiddenDim,
      outputDim: config.projectionDim,
      layers: config.projectionLayers,
      batchNorm: true,
      lastBatchNorm: config.outputBatchNorm,
      lastBatchNormAffine: false,
      seed: rng.seed(),
    });
    // Sec. 4: the predictor is a bottleneck, Linear → BN → ReLU → Linear, no BN on its output.
    const predictor = predictionHead({
      inputDim: config.projectionDim,
      hiddenDim: config.predictorHiddenDim,
      outputDim: config.projectionDim,
      seed: rng.seed(),
    });
    const target = config.stopGradient ? (z: Tensor2D) => stopGradient(z) : (z: Tensor2D) => z;

    return {
      encoder,
      trainable: { encoder: encoder.model, projector, predictor },
      step(batch) {
        const [view1, view2] = batch.views;
        if (view1 === undefined || view2 === undefined) invalidConfig('views', batch.views.length, 'two views per image (the byol policy)');
        // The authors' forward runs each view through the network on its own (BN statistics per view).
        const [features1, features2] = forwardViews((x: Tensor4D) => encoder.features(x, { training: true }), [view1, view2], 'per-view');
        const [z1, z2] = [features1, features2].map((h) => projector.apply(h, { training: true }) as Tensor2D);
        const [p1, p2] = [z1, z2].map((z) => predictor.apply(z, { training: true }) as Tensor2D);
        // Eq. 4: L = ½D(p₁, stopgrad(z₂)) + ½D(p₂, stopgrad(z₁)).
        const loss = tf.mul(0.5, tf.add(negativeCosineSimilarity(p1, target(z2)), negativeCosineSimilarity(p2, target(z1)))) as Scalar;
        return {
          loss,
          metrics: {
            // Fig. 2's collapse signal: per-dimension std of z/‖z‖ (× √d, so ≈ 1 healthy and 0 collapsed).
            projectionStd: normalizedStd(z1),
            predictionStd: normalizedStd(p1),
            featureStd: normalizedStd(features1),
            featureRank: effectiveRank(features1),
          },
        };
      },
    };
  },
});
