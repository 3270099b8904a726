import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor3D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import {
  checkPolicyOptions,
  defineMethod,
  forwardViews,
  invalidConfig,
  l2Normalize,
  projectionHead,
  prototypeLayer,
  requirePositiveInteger,
  stopGradient,
  tfl,
} from '@ssl/core';
import { multiCrop } from '../views/multi-crop';
import type { MultiCropOptions } from '../views/multi-crop';
import { swavLoss } from '../losses/swav';
import { normalizedStd } from '../diagnostics/normalized-std';
import { effectiveRank } from '../diagnostics/effective-rank';

/**
 * SwAV (Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments"):
 * online clustering. Each crop's embedding z (projector output, L2-normalized) is scored against K learned
 * prototypes C (unit vectors); the codes of the high-resolution crops are an equal partition of the batch
 * over the prototypes (Sinkhorn-Knopp, eq. 3, no gradient), and every other crop predicts them from its own
 * scores (swapped prediction, eq. 1–2). The equal partition is what prevents collapse.
 */
export interface SwAVConfig {
  /** Hidden width of the projector, Linear → BN → ReLU → Linear (paper: 2048). */
  projectionHiddenDim: number;
  /** Width of z, the projector's output (paper: 128). */
  projectionDim: number;
  /** K, the number of prototypes (paper: 3000 for ImageNet's 1000 classes; 30 here for Fashion-MNIST's 10). */
  numPrototypes: number;
  /** τ of the swapped prediction's softmax (paper: 0.1). */
  temperature: number;
  /** ε of Sinkhorn-Knopp (paper: 0.05). */
  epsilon: number;
  /** Sinkhorn-Knopp iterations (paper: 3). */
  sinkhornIterations: number;
  /** Epochs during which the prototypes get no gradient (the reference's freeze_prototypes_niters ≈ its first epoch). */
  freezePrototypesEpochs: number;
  /**
   * Past embeddings per high-resolution crop kept in a FIFO queue (0: no queue). Once full, their scores join
   * the batch's in Sinkhorn-Knopp, for batches smaller than K (paper sec. 4.4: 3840 at batch 256).
   */
  queueLength: number;
  /** First epoch at which the queue is filled and used (the reference's epoch_queue_starts). */
  queueStartEpoch: number;
  /** Overrides of the 'multiCrop' view policy; the first `globalCrops` views are the high-resolution crops. */
  views: MultiCropOptions;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'noncontrastive:swav': SwAVConfig;
  }
}

/**
 * SwAV's multi-crop on 28×28 grayscale: 2 high-resolution crops of 28×28 at scale (0.14, 1) and 6 crops of
 * 12×12 (96/224 of the side) at scale (0.05, 0.4): the paper's (0.05, 0.14) leaves 2–3 pixel objects on
 * a 28-pixel image, so the local crops take DINO's upper bound. Blur σ up to 1 pixel (BYOL_FASHION_VIEWS).
 */
export const SWAV_FASHION_VIEWS: MultiCropOptions = {
  globalCrops: 2,
  localCrops: 6,
  globalScale: [0.14, 1],
  localScale: [0.05, 0.4],
  localSize: [12, 12],
  blurSigma: [0.1, 1],
  grayscaleP: 0,
};

function checkPositiveNumber(field: string, value: number, paper: string): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) invalidConfig(field, value, `a number > 0 (paper: ${paper})`);
}

function checkCount(field: string, value: number, paper: string): void {
  if (!(Number.isInteger(value) && value >= 0)) invalidConfig(field, value, `an integer ≥ 0 (paper: ${paper})`);
}

/** What SwAV's step hands to afterStep: the high-resolution crops' embeddings, for the queue. */
export interface SwAVCarry {
  readonly embeddings: Tensor2D[];
}

export const swav = defineMethod<SwAVConfig, 'unlabeled', SwAVCarry>({
  name: 'swav',
  description: 'Swapped prediction of Sinkhorn-Knopp cluster codes over learned prototypes, multi-crop (Caron et al. 2020).',
  paper: {
    title: 'Unsupervised Learning of Visual Features by Contrasting Cluster Assignments',
    authors: 'Caron, Misra, Mairal, Goyal, Bojanowski, Joulin',
    year: 2020,
    url: 'https://arxiv.org/abs/2006.09882',
  },
  data: 'unlabeled',
  defaults: {
    projectionHiddenDim: 512,
    projectionDim: 128,
    numPrototypes: 30,
    temperature: 0.1,
    epsilon: 0.05,
    sinkhornIterations: 3,
    freezePrototypesEpochs: 1,
    queueLength: 0,
    queueStartEpoch: 1,
    views: SWAV_FASHION_VIEWS,
  },
  validate(config) {
    requirePositiveInteger('projectionHiddenDim', config.projectionHiddenDim);
    requirePositiveInteger('projectionDim', config.projectionDim);
    requirePositiveInteger('numPrototypes', config.numPrototypes);
    checkPositiveNumber('temperature', config.temperature, '0.1');
    checkPositiveNumber('epsilon', config.epsilon, '0.05');
    requirePositiveInteger('sinkhornIterations', config.sinkhornIterations);
    checkCount('freezePrototypesEpochs', config.freezePrototypesEpochs, 'the first epoch');
    checkCount('queueLength', config.queueLength, '3840 at batch 256');
    checkCount('queueStartEpoch', config.queueStartEpoch, '15 of 100+');
    checkPolicyOptions(multiCrop, config.views, 'views');
    const globalCrops = config.views.globalCrops ?? 2;
    if (globalCrops + (config.views.localCrops ?? 6) < 2)
      invalidConfig('views.localCrops', config.views.localCrops, 'at least 2 crops in all (a crop other than each code’s)');
  },
  views: (config) => ({ unlabeled: { name: 'multiCrop', overrides: { ...config.views } } }),
  // The paper: LARS, lr 4.8 at batch 4096, weight decay 1e-6, cosine. On the small CNN and the sample,
  // Adam at lr 2e-3 with warm-up + cosine learned where lr 1e-3 did not (README).
  training: {
    optimizer: { kind: 'adam', lr: 2e-3 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 64,
    epochs: 10,
  },
  build({ config, createEncoder, rng }) {
    const encoder = createEncoder();
    // The reference's projection_head: Linear(2048) → BN → ReLU → Linear(128), then z/‖z‖.
    const projector = projectionHead({
      inputDim: encoder.featureDim,
      hiddenDim: config.projectionHiddenDim,
      outputDim: config.projectionDim,
      layers: 2,
      batchNorm: true,
      seed: rng.seed(),
    });
    const prototypeWeights = prototypeLayer({ inputDim: config.projectionDim, numPrototypes: config.numPrototypes, seed: rng.seed() });
    const prototypes = tfl.sequential({ name: 'swav_prototypes', layers: [prototypeWeights] });
    // Unit prototypes from the start, so the scores are cosine similarities (Algorithm 1).
    prototypeWeights.normalizePrototypes();
    const prototypeKernel = prototypeWeights.trainableWeights[0];
    const globalCrops = config.views.globalCrops ?? 2;

    const queueEnabled = config.queueLength > 0;
    let queue: Variable | undefined;
    if (queueEnabled) {
      const empty = tf.zeros([globalCrops, config.queueLength, config.projectionDim]);
      queue = tf.variable(empty, false);
      empty.dispose();
    }
    // The reference uses the queue once its last row is filled (not all zeros).
    const queueIsFull = (): boolean =>
      queue !== undefined &&
      tf.tidy(() => tf.any(tf.notEqual(tf.slice(queue!, [0, config.queueLength - 1, 0], [-1, 1, -1]), 0)).dataSync()[0] === 1);

    const sinkhorn = { temperature: config.temperature, epsilon: config.epsilon, iterations: config.sinkhornIterations };

    return {
      encoder,
      trainable: { encoder: encoder.model, projector, prototypes },
      ...(queue ? { state: { queue } } : {}),
      step(batch, context) {
        const views = batch.views;
        if (views.length < Math.max(2, globalCrops))
          invalidConfig('views', views.length, `at least ${Math.max(2, globalCrops)} views (the multiCrop policy)`);
        const batchSize = views[0].shape[0];
        // The reference forwards the crops of one resolution as one batch (its idx_crops groups), then the
        // projector on all crops' features together.
        const encode = (x: Tensor4D) => encoder.features(x, { training: true });
        const globalFeatures = forwardViews(encode, views.slice(0, globalCrops), 'concatenated');
        const localFeatures = views.length > globalCrops ? forwardViews(encode, views.slice(globalCrops), 'concatenated') : [];
        const features = [...globalFeatures, ...localFeatures];
        const embeddings = l2Normalize(projector.apply(tf.concat(features, 0), { training: true }) as Tensor2D);
        // During the first epoch(s) the prototypes are read through a stop-gradient: no gradient, so the
        // optimizer leaves them (the reference zeroes their gradient for freeze_prototypes_niters steps).
        const kernel = prototypeKernel.read() as Tensor2D;
        const frozen = context.epoch < config.freezePrototypesEpochs;
        const scores = tf.matMul(embeddings, frozen ? stopGradient(kernel) : kernel);
        const perCrop = features.map((_, v) => tf.slice(scores, [v * batchSize, 0], [batchSize, -1]) as Tensor2D);
        const globalEmbeddings = globalFeatures.map((_, v) => stopGradient(tf.slice(embeddings, [v * batchSize, 0], [batchSize, -1])));
        const useQueue = queueEnabled && context.epoch >= config.queueStartEpoch && queueIsFull();
        const queueScores = useQueue
          ? Array.from({ length: globalCrops }, (_, v) => {
              const past = tf.reshape(tf.slice(queue!, [v, 0, 0], [1, -1, -1]), [config.queueLength, config.projectionDim]);
              return tf.matMul(past, stopGradient(kernel)) as Tensor2D;
            })
          : undefined;
        const loss = swavLoss(perCrop.slice(0, globalCrops), perCrop.slice(globalCrops), {
          ...sinkhorn,
          ...(queueScores ? { queueScores } : {}),
        });
        return {
          loss,
          metrics: {
            projectionStd: normalizedStd(globalEmbeddings[0]),
            featureStd: normalizedStd(globalFeatures[0]),
            featureRank: effectiveRank(globalFeatures[0]),
            // 1 when the batch's hard assignments use as many prototypes as they can (min(B, K)); small when
            // every image lands on a few prototypes (collapse of the clustering).
            prototypeUsage: tf.tidy(() => {
              const assigned = tf.oneHot(tf.argMax(perCrop[0], 1), config.numPrototypes);
              const used = tf.sum(tf.cast(tf.greater(tf.sum(assigned, 0), 0), 'float32'));
              return tf.div(used, Math.min(batchSize, config.numPrototypes));
            }) as tf.Scalar,
          },
          carry: { embeddings: globalEmbeddings },
        };
      },
      afterStep(_batch, context, carry) {
        // Algorithm 1: the prototypes stay unit vectors (the reference normalizes them before each forward).
        prototypeWeights.normalizePrototypes();
        if (!queue || !carry || context.epoch < config.queueStartEpoch) return;
        // FIFO, newest first: queue[i, B:] = queue[i, :-B]; queue[i, :B] = z_i (the reference's update).
        const rows = Math.min(carry.embeddings[0].shape[0], config.queueLength);
        const kept = config.queueLength - rows;
        const next = tf.stack(
          carry.embeddings.map((z, v) => {
            const fresh = tf.slice(z, [0, 0], [rows, -1]);
            if (kept === 0) return fresh;
            const old = tf.reshape(tf.slice(queue!, [v, 0, 0], [1, kept, -1]), [kept, config.projectionDim]);
            return tf.concat([fresh, old], 0);
          }),
        ) as Tensor3D;
        queue.assign(next);
      },
    };
  },
});
