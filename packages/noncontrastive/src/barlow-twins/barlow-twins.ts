import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { checkPolicyOptions, defineMethod, forwardViews, invalidConfig, projectionHead, requirePositiveInteger } from '@ssl/core';
import { byolViews } from '../views/byol-views';
import type { ByolViewOptions } from '../views/byol-views';
import { barlowTwinsLoss } from '../losses/barlow-twins';
import { normalizedStd } from '../diagnostics/normalized-std';
import { effectiveRank } from '../diagnostics/effective-rank';
import { BYOL_FASHION_VIEWS } from '../byol/byol';

/**
 * Barlow Twins (Zbontar et al. 2021, "Self-Supervised Learning via Redundancy Reduction"). One network,
 * two views; the cross-correlation matrix of the two batches of projections (each feature standardized
 * over its own batch) is pushed towards the identity (eq. 1): invariance on the diagonal, redundancy
 * reduction off it. Collapse is impossible by construction: a constant feature has no correlation.
 */
export interface BarlowTwinsConfig {
  /** Width of the projector's hidden layers (paper: 8192). */
  projectionHiddenDim: number;
  /** Width of the projector's output, the size of the cross-correlation matrix (paper: 8192). */
  projectionDim: number;
  /** Linear layers of the projector (paper: 3). */
  projectionLayers: 2 | 3;
  /** λ, weight of the off-diagonal (redundancy) term (paper: 5e-3). */
  lambda: number;
  /** Overrides of the 'byol' view policy: Barlow Twins uses BYOL's asymmetric views (sec. 3, "Image augmentations"). */
  views: ByolViewOptions;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'noncontrastive:barlow-twins': BarlowTwinsConfig;
  }
}

export const barlowTwins = defineMethod<BarlowTwinsConfig, 'unlabeled'>({
  name: 'barlow-twins',
  description:
    'Cross-correlation of two views’ projections pushed to the identity: invariance + redundancy reduction (Zbontar et al. 2021).',
  paper: {
    title: 'Barlow Twins: Self-Supervised Learning via Redundancy Reduction',
    authors: 'Zbontar, Jing, Misra, LeCun, Deny',
    year: 2021,
    url: 'https://arxiv.org/abs/2103.03230',
  },
  data: 'unlabeled',
  defaults: {
    projectionHiddenDim: 512,
    projectionDim: 512,
    projectionLayers: 3,
    lambda: 5e-3,
    views: BYOL_FASHION_VIEWS,
  },
  validate(config) {
    requirePositiveInteger('projectionHiddenDim', config.projectionHiddenDim);
    requirePositiveInteger('projectionDim', config.projectionDim);
    if (config.projectionLayers !== 2 && config.projectionLayers !== 3)
      invalidConfig('projectionLayers', config.projectionLayers, '2 or 3');
    if (!(typeof config.lambda === 'number' && Number.isFinite(config.lambda) && config.lambda >= 0))
      invalidConfig('lambda', config.lambda, 'a number ≥ 0 (paper: 5e-3)');
    checkPolicyOptions(byolViews, config.views, 'views');
  },
  views: (config) => ({ unlabeled: { name: 'byol', overrides: { ...config.views } } }),
  // The paper: LARS at batch 2048 (lr 0.2 for weights). On the small CNN and the 3000-image sample, Adam
  // lr 2e-3 at batch 64 beat the random-init encoder on kNN where lr 1e-3 at batch 128 did not (README).
  training: {
    optimizer: { kind: 'adam', lr: 2e-3 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 64,
    epochs: 10,
  },
  build({ config, createEncoder, rng }) {
    const encoder = createEncoder();
    // Sec. 3 (implementation details): Linear → BN → ReLU for each hidden layer, then a plain Linear output.
    const projector = projectionHead({
      inputDim: encoder.featureDim,
      hiddenDim: config.projectionHiddenDim,
      outputDim: config.projectionDim,
      layers: config.projectionLayers,
      batchNorm: true,
      seed: rng.seed(),
    });
    return {
      encoder,
      trainable: { encoder: encoder.model, projector },
      step(batch) {
        const [view1, view2] = batch.views;
        if (view1 === undefined || view2 === undefined) invalidConfig('views', batch.views.length, 'two views per image (the byol policy)');
        // The authors' forward runs each view on its own, so every BN sees one view's batch.
        const [features1, features2] = forwardViews((x: Tensor4D) => encoder.features(x, { training: true }), [view1, view2], 'per-view');
        const [z1, z2] = [features1, features2].map((h) => projector.apply(h, { training: true }) as Tensor2D);
        // The loss standardizes each branch over its own batch (the code's affine-free BatchNorm1d).
        const loss = barlowTwinsLoss(z1, z2, { lambda: config.lambda });
        return {
          loss,
          metrics: {
            projectionStd: normalizedStd(z1),
            featureStd: normalizedStd(features1),
            featureRank: effectiveRank(features1),
          },
        };
      },
    };
  },
});
