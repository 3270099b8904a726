import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import {
  checkPolicyOptions,
  defineMethod,
  forwardViews,
  invalidConfig,
  l2Normalize,
  predictionHead,
  projectionHead,
  requirePositiveInteger,
  stopGradient,
} from '@ssl/core';
import { simclrViews } from '../views/simclr-views';
import type { SimclrViewOptions } from '../views/simclr-views';
import { inBatchInfoNceLoss } from '../losses/in-batch-info-nce';
import { createFeatureQueue, enqueueFeatures } from '../blocks/feature-queue';
import { nearestNeighbours } from '../blocks/nearest-neighbours';
import { MOCO_V2_FASHION_VIEWS, requireTwoViews } from '../moco/moco';

/**
 * NNCLR (Dwibedi, Aytar, Tompson, Sermanet, Zisserman 2021, "With a Little Help from My Friends: Nearest-Neighbor
 * Contrastive Learning of Visual Representations"): the positive of an image's view is not its other view's
 * embedding but that embedding's nearest neighbour in a support set Q of past embeddings (a FIFO queue),
 * contrasted in-batch against the other view's predictions (eq. 2), symmetrised. Q is read before this step's
 * embeddings are enqueued (from the carry, in afterStep).
 */
export interface NNCLRConfig {
  /** τ (paper: 0.1). */
  temperature: number;
  /** |Q|, embeddings in the support set (paper: 98304). Keep it below the number of training images. */
  supportSize: number;
  /** Hidden width of the projector and the predictor (paper: 2048 / 4096). */
  projectionHiddenDim: number;
  /** Width of the embeddings and the support set (paper: 256). */
  projectionDim: number;
  /** Overrides of the 'simclr' view policy. */
  views: SimclrViewOptions;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'contrastive:nnclr': NNCLRConfig;
  }
}

/** What NNCLR's step hands to afterStep: the first view's normalised embeddings, to enqueue into Q. */
export interface NNCLRCarry {
  readonly embeddings: Tensor2D;
}

export const nnclr = defineMethod<NNCLRConfig, 'unlabeled', NNCLRCarry>({
  name: 'nnclr',
  description: 'Nearest-neighbour positives from a support queue of past embeddings, in-batch InfoNCE (NNCLR, Dwibedi et al. 2021).',
  paper: {
    title: 'With a Little Help from My Friends: Nearest-Neighbor Contrastive Learning of Visual Representations',
    authors: 'Dwibedi, Aytar, Tompson, Sermanet, Zisserman',
    year: 2021,
    url: 'https://arxiv.org/abs/2104.14548',
  },
  data: 'unlabeled',
  defaults: {
    temperature: 0.1,
    supportSize: 4096,
    projectionHiddenDim: 256,
    projectionDim: 64,
    views: MOCO_V2_FASHION_VIEWS,
  },
  validate(config) {
    if (!(typeof config.temperature === 'number' && Number.isFinite(config.temperature) && config.temperature > 0)) {
      invalidConfig('temperature', config.temperature, 'a finite number > 0 (paper: 0.1)');
    }
    requirePositiveInteger('supportSize', config.supportSize);
    requirePositiveInteger('projectionHiddenDim', config.projectionHiddenDim);
    requirePositiveInteger('projectionDim', config.projectionDim);
    checkPolicyOptions(simclrViews, config.views, 'views');
  },
  views: (config) => ({ unlabeled: { name: 'simclr', overrides: { ...config.views } } }),
  // The paper: LARS, lr 0.3 × batch/256 (batch 4096), warm-up + cosine; Adam for our short budgets.
  training: {
    optimizer: { kind: 'adam', lr: 2e-3 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 256,
    epochs: 10,
  },
  build({ config, createEncoder, rng }) {
    const encoder = createEncoder();
    // Sec. 4: a 3-layer projection MLP and a 2-layer prediction MLP, batch norm after each layer of the former.
    const projector = projectionHead({
      inputDim: encoder.featureDim,
      hiddenDim: config.projectionHiddenDim,
      outputDim: config.projectionDim,
      layers: 3,
      batchNorm: true,
      lastBatchNorm: true,
      lastBatchNormAffine: true,
      seed: rng.seed(),
    });
    const predictor = predictionHead({
      inputDim: config.projectionDim,
      hiddenDim: config.projectionHiddenDim,
      outputDim: config.projectionDim,
      seed: rng.seed(),
    });
    const support = createFeatureQueue({ size: config.supportSize, dim: config.projectionDim, seed: rng.seed() });
    const embed = (x: Tensor4D): Tensor2D => projector.apply(encoder.features(x, { training: true }), { training: true }) as Tensor2D;

    return {
      encoder,
      trainable: { encoder: encoder.model, projector, predictor },
      state: { support: support.features, supportPointer: support.pointer },
      step(batch) {
        const [view1, view2] = requireTwoViews(batch.views);
        const [z1, z2] = forwardViews(embed, [view1, view2], 'per-view');
        const [p1, p2] = [z1, z2].map((z) => predictor.apply(z, { training: true }) as Tensor2D);
        const supportSet = support.features as unknown as Tensor2D;
        // Eq. 1: NN(z, Q), from Q as it was before this step; no gradient flows through the support set.
        const neighbours1 = nearestNeighbours(z1, supportSet);
        const neighbours2 = nearestNeighbours(z2, supportSet);
        const options = { temperature: config.temperature };
        // Eq. 2, symmetrised (sec. 3.2): NN(z¹) against the other view's predictions, and the reverse.
        const loss = tf.mul(
          tf.add(inBatchInfoNceLoss(neighbours1, p2, options), inBatchInfoNceLoss(neighbours2, p1, options)),
          0.5,
        ) as Scalar;
        // How close each embedding's neighbour is (1: Q holds near-copies; a health signal as Q fills).
        const neighbourCosine = tf.mean(tf.sum(tf.mul(l2Normalize(stopGradient(z1)), l2Normalize(neighbours1)), 1)) as Scalar;
        return { loss, metrics: { neighbourCosine }, carry: { embeddings: stopGradient(l2Normalize(z1)) } };
      },
      afterStep(_batch, _context, carry) {
        if (carry) enqueueFeatures(support, carry.embeddings);
      },
    };
  },
});
