import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { checkPolicyOptions, defineMethod, forwardViews, invalidConfig, projectionHead, requirePositiveInteger } from '@ssl/core';
import { byolViews } from '../views/byol-views';
import type { ByolViewOptions } from '../views/byol-views';
import { vicregLoss } from '../losses/vicreg';
import { normalizedStd } from '../diagnostics/normalized-std';
import { effectiveRank } from '../diagnostics/effective-rank';
import { BYOL_FASHION_VIEWS } from '../byol/byol';

/**
 * VICReg (Bardes, Ponce & LeCun 2022, "Variance-Invariance-Covariance Regularization"). One network, two
 * views; the expander's outputs are pulled together (invariance, MSE), each branch keeps the std of every
 * dimension above 1 (variance hinge) and its dimensions decorrelated (covariance off-diagonal), eq. 6.
 * The variance term is what prevents collapse; no stop-gradient, predictor or batch-wise normalization.
 */
export interface VICRegConfig {
  /** Width of the expander's hidden layers (paper: 8192). */
  expanderHiddenDim: number;
  /** Width of the expander's output (paper: 8192). */
  expanderDim: number;
  /** Linear layers of the expander (paper: 3). */
  expanderLayers: 2 | 3;
  /** λ, invariance weight (paper: 25). */
  simCoeff: number;
  /** μ, variance weight (paper: 25). */
  stdCoeff: number;
  /** ν, covariance weight (paper: 1). */
  covCoeff: number;
  /** Overrides of the 'byol' view policy: VICReg uses BYOL's asymmetric views (appendix C.2). */
  views: ByolViewOptions;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'noncontrastive:vicreg': VICRegConfig;
  }
}

function checkCoefficient(field: string, value: number): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value >= 0)) invalidConfig(field, value, 'a number ≥ 0 (paper: 25, 25, 1)');
}

export const vicreg = defineMethod<VICRegConfig, 'unlabeled'>({
  name: 'vicreg',
  description: 'Invariance (MSE) + per-dimension variance hinge + covariance decorrelation on an expander’s outputs (Bardes et al. 2022).',
  paper: {
    title: 'VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised Learning',
    authors: 'Bardes, Ponce, LeCun',
    year: 2022,
    url: 'https://arxiv.org/abs/2105.04906',
  },
  data: 'unlabeled',
  defaults: {
    expanderHiddenDim: 512,
    expanderDim: 512,
    expanderLayers: 3,
    simCoeff: 25,
    stdCoeff: 25,
    covCoeff: 1,
    views: BYOL_FASHION_VIEWS,
  },
  validate(config) {
    requirePositiveInteger('expanderHiddenDim', config.expanderHiddenDim);
    requirePositiveInteger('expanderDim', config.expanderDim);
    if (config.expanderLayers !== 2 && config.expanderLayers !== 3) invalidConfig('expanderLayers', config.expanderLayers, '2 or 3');
    checkCoefficient('simCoeff', config.simCoeff);
    checkCoefficient('stdCoeff', config.stdCoeff);
    checkCoefficient('covCoeff', config.covCoeff);
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
    // Sec. 4.1: the expander is Linear → BN → ReLU for each hidden layer, then a plain Linear output.
    const expander = projectionHead({
      inputDim: encoder.featureDim,
      hiddenDim: config.expanderHiddenDim,
      outputDim: config.expanderDim,
      layers: config.expanderLayers,
      batchNorm: true,
      seed: rng.seed(),
    });
    const coefficients = { simCoeff: config.simCoeff, stdCoeff: config.stdCoeff, covCoeff: config.covCoeff };
    return {
      encoder,
      trainable: { encoder: encoder.model, expander },
      step(batch) {
        const [view1, view2] = batch.views;
        if (view1 === undefined || view2 === undefined) invalidConfig('views', batch.views.length, 'two views per image (the byol policy)');
        // The authors' forward runs each view on its own, so every BN sees one view's batch.
        const [features1, features2] = forwardViews((x: Tensor4D) => encoder.features(x, { training: true }), [view1, view2], 'per-view');
        const [z1, z2] = [features1, features2].map((h) => expander.apply(h, { training: true }) as Tensor2D);
        // Variance and covariance are computed on each branch on its own (eq. 6: v(Z) + v(Z′), c(Z) + c(Z′)).
        const loss = vicregLoss(z1, z2, coefficients);
        return {
          loss,
          metrics: {
            expanderStd: normalizedStd(z1),
            featureStd: normalizedStd(features1),
            featureRank: effectiveRank(features1),
          },
        };
      },
    };
  },
});
