import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import {
  checkPolicyOptions,
  copyWeights,
  cosineMomentum,
  defineMethod,
  forwardViews,
  invalidConfig,
  noGradient,
  predictionHead,
  projectionHead,
  requirePositiveInteger,
} from '@ssl/core';
import type { ViewForwarding } from '@ssl/core';
import { byolViews } from '../views/byol-views';
import type { ByolViewOptions } from '../views/byol-views';
import { byolLoss } from '../losses/byol';
import { normalizedStd } from '../diagnostics/normalized-std';
import { effectiveRank } from '../diagnostics/effective-rank';

/**
 * BYOL (Grill et al. 2020, "Bootstrap Your Own Latent"). An online network (encoder f_θ, projector g_θ,
 * predictor q_θ) regresses the projection of another view made by a target network (f_ξ, g_ξ) whose
 * weights are an exponential moving average of the online ones (eq. 1) and that receives no gradient
 * (sg in eq. 2). No negatives: the predictor and the slowly moving target keep it from collapsing.
 */
export interface BYOLConfig {
  /** Hidden width of the projector and the predictor (paper: 4096). */
  projectionHiddenDim: number;
  /** Output width of the projector and the predictor (paper: 256). */
  projectionDim: number;
  /** Hidden width of the predictor; default the projector's. */
  predictorHiddenDim: number;
  /** τ_base of the target's EMA (paper: 0.996 for 1000 epochs; 0.99 suits short runs, table 16). */
  baseMomentum: number;
  /** τ at the end of training; BYOL's cosine schedule goes from τ_base to 1 (sec. 3.2). */
  finalMomentum: number;
  /**
   * How the two views go through the networks: 'per-view' (the authors' code: each view its own batch, so
   * batch norm never mixes the views) or 'concatenated' (one batch of 2N, what this method did before 0.2).
   */
  viewForwarding: ViewForwarding;
  /** Overrides of the 'byol' view policy (asymmetric blur and solarisation, table 6). */
  views: ByolViewOptions;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'noncontrastive:byol': BYOLConfig;
  }
}

/**
 * BYOL's views (table 6) scaled to 28×28 grayscale: crops of at least 20% of the image, brightness and
 * contrast jitter (saturation, hue and grayscale are no-ops on one channel), blur σ up to 1 pixel;
 * the asymmetry is kept: view 1 always blurred, view 2 rarely blurred and solarised with p = 0.2.
 */
export const BYOL_FASHION_VIEWS: ByolViewOptions = {
  cropScale: [0.2, 1],
  flipP: 0.5,
  jitterStrength: 1,
  jitterP: 0.8,
  grayscaleP: 0,
  blurSigma: [0.1, 1],
  blurP1: 1,
  blurP2: 0.1,
  solarizeP1: 0,
  solarizeP2: 0.2,
};

export const byol = defineMethod<BYOLConfig, 'unlabeled'>({
  name: 'byol',
  description: 'Online network predicts an EMA target network’s projection of another view, no negatives (Grill et al. 2020).',
  paper: {
    title: 'Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning',
    authors: 'Grill, Strub, Altché, Tallec, Richemond, Buchatskaya, Doersch, Pires, Guo, Azar, Piot, Kavukcuoglu, Munos, Valko',
    year: 2020,
    url: 'https://arxiv.org/abs/2006.07733',
  },
  data: 'unlabeled',
  defaults: {
    projectionHiddenDim: 512,
    projectionDim: 128,
    predictorHiddenDim: 512,
    baseMomentum: 0.99,
    finalMomentum: 1,
    viewForwarding: 'per-view',
    views: BYOL_FASHION_VIEWS,
  },
  validate(config) {
    requirePositiveInteger('projectionHiddenDim', config.projectionHiddenDim);
    requirePositiveInteger('projectionDim', config.projectionDim);
    requirePositiveInteger('predictorHiddenDim', config.predictorHiddenDim);
    if (!(typeof config.baseMomentum === 'number' && config.baseMomentum >= 0 && config.baseMomentum <= 1)) {
      invalidConfig('baseMomentum', config.baseMomentum, 'a number in [0, 1] (BYOL: 0.99 to 0.996)');
    }
    if (!(typeof config.finalMomentum === 'number' && config.finalMomentum >= config.baseMomentum && config.finalMomentum <= 1)) {
      invalidConfig('finalMomentum', config.finalMomentum, `a number in [baseMomentum = ${config.baseMomentum}, 1]`);
    }
    if (config.viewForwarding !== 'per-view' && config.viewForwarding !== 'concatenated') {
      invalidConfig('viewForwarding', config.viewForwarding, "'per-view' (the authors' code) or 'concatenated'");
    }
    checkPolicyOptions(byolViews, config.views, 'views');
  },
  views: (config) => ({ unlabeled: { name: 'byol', overrides: { ...config.views } } }),
  // BYOL uses LARS at batch 4096 (lr 0.2 × batch/256, wd 1.5e-6). On a small CNN with short budgets,
  // SGD (lr 0.1, momentum 0.9) fell far below the random-init encoder; Adam at lr 3e-3 with batch 64 (more
  // target updates per epoch) beat it (search log in examples/byol-fashion-mnist/README.md).
  training: {
    optimizer: { kind: 'adam', lr: 3e-3 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 64,
    epochs: 10,
  },
  build({ config, createEncoder, rng }) {
    const encoder = createEncoder();
    const targetEncoder = createEncoder();
    const headConfig = {
      inputDim: encoder.featureDim,
      hiddenDim: config.projectionHiddenDim,
      outputDim: config.projectionDim,
      layers: 2 as const,
      batchNorm: true,
    };
    // BYOL sec. 3.3: projector Linear → BN → ReLU → Linear; the predictor has the same architecture.
    const projector = projectionHead({ ...headConfig, seed: rng.seed() });
    const targetProjector = projectionHead({ ...headConfig, seed: rng.seed() });
    const predictor = predictionHead({
      inputDim: config.projectionDim,
      hiddenDim: config.predictorHiddenDim,
      outputDim: config.projectionDim,
      seed: rng.seed(),
    });
    // ξ ← θ at the start (BYOL's reference code initialises the target as a copy of the online network).
    copyWeights(targetEncoder.model, encoder.model);
    copyWeights(targetProjector, projector);

    return {
      encoder,
      trainable: { encoder: encoder.model, projector, predictor },
      frozen: { targetEncoder: targetEncoder.model, targetProjector },
      step(batch) {
        const [view1, view2] = batch.views;
        if (view1 === undefined || view2 === undefined) invalidConfig('views', batch.views.length, 'two views per image (the byol policy)');
        // Online and target networks forward the views as the config says; per view, every batch-norm layer
        // sees one view's batch (the authors' code), so its statistics never mix the two views. forwardViews
        // carries one matrix per view, so the online network returns [h | z | q(z)] side by side.
        const online = forwardViews(
          (x: Tensor4D) => {
            const h = encoder.features(x, { training: true });
            const z = projector.apply(h, { training: true }) as Tensor2D;
            return tf.concat([h, z, predictor.apply(z, { training: true }) as Tensor2D], 1) as Tensor2D;
          },
          [view1, view2],
          config.viewForwarding,
        );
        const featureDim = encoder.featureDim;
        const part = (x: Tensor2D, start: number, width: number) => tf.slice(x, [0, start], [-1, width]) as Tensor2D;
        const [features1, projections1, predictions1, predictions2] = [
          part(online[0], 0, featureDim),
          part(online[0], featureDim, config.projectionDim),
          part(online[0], featureDim + config.projectionDim, config.projectionDim),
          part(online[1], featureDim + config.projectionDim, config.projectionDim),
        ];
        // Target projections with batch statistics (as BYOL's code) and no gradient: sg(z′ξ) of eq. 2. The
        // target's forward runs off the tape, so none of its activations is kept for the backward.
        const [targets1, targets2] = noGradient(() =>
          forwardViews(
            (x: Tensor4D) => targetProjector.apply(targetEncoder.features(x, { training: true }), { training: true }) as Tensor2D,
            [view1, view2],
            config.viewForwarding,
          ),
        );
        // Symmetric loss, eq. 2: L + L̃ with q(z₁) → z′₂ and q(z₂) → z′₁.
        const loss = tf.add(byolLoss(predictions1, targets2), byolLoss(predictions2, targets1)) as Scalar;
        return {
          loss,
          metrics: {
            // Collapse diagnostics: ~1 when healthy, → 0 when every image maps to the same vector.
            projectionStd: normalizedStd(projections1),
            featureStd: normalizedStd(features1),
            featureRank: effectiveRank(features1),
          },
        };
      },
      // BYOL eq. 1 with the cosine schedule of sec. 3.2: τ = 1 − (1 − τ_base)(cos(πk/K) + 1)/2.
      momentumPairs: {
        pairs: [
          { target: targetEncoder.model, source: encoder.model },
          { target: targetProjector, source: projector },
        ],
        momentum: ({ progress }) => cosineMomentum(config.baseMomentum, progress, config.finalMomentum),
      },
    };
  },
});

/** The target momentum τ at a point of training, as BYOL's afterStep applies it. */
export function byolMomentum(config: Pick<BYOLConfig, 'baseMomentum' | 'finalMomentum'>, progress: number): number {
  return cosineMomentum(config.baseMomentum, progress, config.finalMomentum);
}
