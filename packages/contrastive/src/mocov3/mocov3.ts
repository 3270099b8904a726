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
  stopGradient,
} from '@ssl/core';
import { simclrViews } from '../views/simclr-views';
import type { SimclrViewOptions } from '../views/simclr-views';
import { inBatchInfoNceLoss } from '../losses/in-batch-info-nce';
import { MOCO_V2_FASHION_VIEWS, checkMomentumSchedule, requireTwoViews } from '../moco/moco';

/**
 * MoCo v3 (Chen, Xie, He 2021, "An Empirical Study of Training Self-Supervised Vision Transformers",
 * Algorithm 1): no queue. Each view's query (encoder → projector → predictor) must pick out the momentum
 * encoder's key of the other view among the batch's keys (in-batch InfoNCE), symmetrised, the loss scaled by
 * 2τ as in the reference code. Works with the CNN and the ViT encoders: nothing depends on the backbone.
 */
export interface MoCoV3Config {
  /** τ (paper: 0.2 for ResNets, 0.1 for ViTs). */
  temperature: number;
  /** Hidden width of the 3-layer projector and the 2-layer predictor (paper: 4096). */
  projectionHiddenDim: number;
  /** Output width of projector and predictor (paper: 256). */
  projectionDim: number;
  /** m at the start of the momentum encoder's cosine schedule (paper: 0.99 for ResNets, 0.996 for ViTs). */
  baseMomentum: number;
  /** m at the end (paper: 1). */
  finalMomentum: number;
  /** Overrides of the 'simclr' view policy. */
  views: SimclrViewOptions;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'contrastive:mocov3': MoCoV3Config;
  }
}

export const mocov3 = defineMethod<MoCoV3Config, 'unlabeled'>({
  name: 'mocov3',
  description:
    'Momentum contrast without a queue: symmetric in-batch InfoNCE between a predictor’s queries and momentum keys (MoCo v3, Chen et al. 2021).',
  paper: {
    title: 'An Empirical Study of Training Self-Supervised Vision Transformers',
    authors: 'Chen, Xie, He',
    year: 2021,
    url: 'https://arxiv.org/abs/2104.02057',
  },
  data: 'unlabeled',
  defaults: {
    temperature: 0.2,
    projectionHiddenDim: 256,
    projectionDim: 64,
    baseMomentum: 0.99,
    finalMomentum: 1,
    views: MOCO_V2_FASHION_VIEWS,
  },
  validate(config) {
    if (!(typeof config.temperature === 'number' && Number.isFinite(config.temperature) && config.temperature > 0)) {
      invalidConfig('temperature', config.temperature, 'a finite number > 0 (paper: 0.2 for ResNets, 0.1 for ViTs)');
    }
    requirePositiveInteger('projectionHiddenDim', config.projectionHiddenDim);
    requirePositiveInteger('projectionDim', config.projectionDim);
    checkMomentumSchedule(config);
    checkPolicyOptions(simclrViews, config.views, 'views');
  },
  views: (config) => ({ unlabeled: { name: 'simclr', overrides: { ...config.views } } }),
  // The paper: LARS (ResNet) or AdamW (ViT), lr 0.3 / 1.5e-4 × batch/256, warm-up + cosine.
  training: {
    optimizer: { kind: 'adam', lr: 2e-3 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 256,
    epochs: 10,
  },
  build({ config, createEncoder, rng }) {
    const encoder = createEncoder();
    const momentumEncoder = createEncoder();
    // The reference code's _build_mlp: projector 3 layers with BN after every layer, the last without γ/β;
    // predictor 2 layers with BN in the hidden layer only.
    const projectorConfig = {
      inputDim: encoder.featureDim,
      hiddenDim: config.projectionHiddenDim,
      outputDim: config.projectionDim,
      layers: 3 as const,
      batchNorm: true,
      lastBatchNorm: true,
      lastBatchNormAffine: false,
    };
    const projector = projectionHead({ ...projectorConfig, seed: rng.seed() });
    const momentumProjector = projectionHead({ ...projectorConfig, seed: rng.seed() });
    const predictor = predictionHead({
      inputDim: config.projectionDim,
      hiddenDim: config.projectionHiddenDim,
      outputDim: config.projectionDim,
      seed: rng.seed(),
    });
    copyWeights(momentumEncoder.model, encoder.model);
    copyWeights(momentumProjector, projector);

    const query = (x: Tensor4D): Tensor2D =>
      predictor.apply(projector.apply(encoder.features(x, { training: true }), { training: true }), { training: true }) as Tensor2D;
    // Keys carry no gradient (torch.no_grad in Algorithm 1): the momentum encoder's forward runs off the tape, so
    // none of its activations is kept for the backward.
    const key = (x: Tensor4D): Tensor2D =>
      noGradient(() => momentumProjector.apply(momentumEncoder.features(x, { training: true }), { training: true }) as Tensor2D);

    return {
      encoder,
      trainable: { encoder: encoder.model, projector, predictor },
      frozen: { momentumEncoder: momentumEncoder.model, momentumProjector },
      step(batch) {
        const [view1, view2] = requireTwoViews(batch.views);
        // Each view is its own batch, as the reference code (x1 and x2 go through the encoders one at a time).
        const [q1, q2] = forwardViews(query, [view1, view2], 'per-view');
        const [k1, k2] = forwardViews(key, [view1, view2], 'per-view');
        const options = { temperature: config.temperature };
        // Algorithm 1: ctr(q1, k2) + ctr(q2, k1), each × 2τ (the reference code's scale, which keeps the
        // gradient's size independent of τ).
        const loss = tf.mul(
          tf.add(inBatchInfoNceLoss(q1, k2, options), inBatchInfoNceLoss(q2, k1, options)),
          2 * config.temperature,
        ) as Scalar;
        return { loss, metrics: { keyAccuracy: inBatchAccuracy(q1, k2) } };
      },
      momentumPairs: {
        pairs: [
          { target: momentumEncoder.model, source: encoder.model },
          { target: momentumProjector, source: projector },
        ],
        momentum: ({ progress }) => cosineMomentum(config.baseMomentum, progress, config.finalMomentum),
      },
    };
  },
});

/** Fraction of queries whose own key is their most similar among the batch's keys. */
function inBatchAccuracy(queries: Tensor2D, keys: Tensor2D): Scalar {
  return tf.tidy(() => {
    const similarity = tf.matMul(stopGradient(queries), keys, false, true);
    const own = tf.range(0, queries.shape[0], 1, 'int32');
    return tf.mean(tf.cast(tf.equal(tf.argMax(similarity, 1), own), 'float32')) as Scalar;
  });
}
