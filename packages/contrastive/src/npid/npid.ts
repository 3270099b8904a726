import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import {
  checkPolicyOptions,
  defineMethod,
  hardLabelCrossEntropy,
  invalidConfig,
  l2Normalize,
  linearClassifier,
  requirePositiveInteger,
  stopGradient,
} from '@ssl/core';
import { cropJitterViews } from '../views/simclr-views';
import type { SimclrViewOptions } from '../views/simclr-views';
import { infoNceLoss } from '../losses/info-nce';
import { createMemoryBank, updatedMemoryBank } from '../blocks/memory-bank';

/**
 * NPID, instance discrimination (Wu, Xiong, Yu, Lin 2018, "Unsupervised Feature Learning via Non-Parametric
 * Instance Discrimination"): every training image is its own class. A linear embedding of the encoder's
 * features, L2-normalised, v = f(x), must pick out the memory-bank entry of its own image among the others'
 * (eq. 2, non-parametric softmax with temperature τ). The bank holds one feature per image, read with no
 * gradient and moved towards this step's features after the update (the proximal update, sec. 3.2).
 */
export interface NPIDConfig {
  /** τ of the non-parametric softmax (paper: 0.07). */
  temperature: number;
  /** Width of the embedding and of the bank (paper: 128). */
  embeddingDim: number;
  /**
   * 'sampled': softmax over the own entry and `negatives` entries drawn uniformly with replacement (the
   * paper's m noise samples; the reference code's NCE draws them the same way); 'full': over the whole bank (eq. 2).
   */
  softmax: 'sampled' | 'full';
  /** m, negatives per step with `softmax: 'sampled'` (paper: 4096). */
  negatives: number;
  /** Weight of the old entry in the bank update, v ← normalize(m·v + (1 − m)·f) (reference code: 0.5). */
  bankMomentum: number;
  /**
   * The bank's first contents: 'random' unit rows (the reference code), or 'zeros', so that an image's entry
   * is its own feature from its first visit on. With random rows, the first epoch pulls each image towards a
   * random target, which a budget of a few epochs does not recover from (README).
   */
  bankInit: 'random' | 'zeros';
  /** Overrides of the 'cropJitter' view policy (NPID: crop, grayscale, jitter, flip). */
  views: SimclrViewOptions;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'contrastive:npid': NPIDConfig;
  }
}

/** NPID's augmentation on 28×28 grayscale, as MoCo's: crops ≥ 20% of the image, jitter, flip (blur off, as the paper). */
export const NPID_FASHION_VIEWS: SimclrViewOptions = {
  cropScale: [0.2, 1],
  flipP: 0.5,
  colorJitterStrength: 0.5,
  jitterP: 0.8,
  grayscaleP: 0,
  blurP: 0,
};

/** What NPID's step hands to afterStep: this step's normalised embeddings, for the bank update. */
export interface NPIDCarry {
  readonly features: Tensor2D;
}

export const npid = defineMethod<NPIDConfig, 'unlabeled', NPIDCarry>({
  name: 'npid',
  description: 'Instance discrimination against a memory bank of one normalised feature per image (NPID, Wu et al. 2018).',
  paper: {
    title: 'Unsupervised Feature Learning via Non-Parametric Instance Discrimination',
    authors: 'Wu, Xiong, Yu, Lin',
    year: 2018,
    url: 'https://arxiv.org/abs/1805.01978',
  },
  data: 'unlabeled',
  defaults: {
    temperature: 0.07,
    embeddingDim: 64,
    softmax: 'sampled',
    negatives: 1024,
    bankMomentum: 0.5,
    bankInit: 'zeros',
    views: NPID_FASHION_VIEWS,
  },
  validate(config) {
    if (!(typeof config.temperature === 'number' && Number.isFinite(config.temperature) && config.temperature > 0)) {
      invalidConfig('temperature', config.temperature, 'a finite number > 0 (paper: 0.07)');
    }
    requirePositiveInteger('embeddingDim', config.embeddingDim);
    if (config.softmax !== 'sampled' && config.softmax !== 'full') invalidConfig('softmax', config.softmax, "'sampled' or 'full'");
    requirePositiveInteger('negatives', config.negatives);
    if (!(typeof config.bankMomentum === 'number' && config.bankMomentum >= 0 && config.bankMomentum < 1)) {
      invalidConfig('bankMomentum', config.bankMomentum, 'a number in [0, 1) (reference code: 0.5)');
    }
    if (config.bankInit !== 'random' && config.bankInit !== 'zeros') invalidConfig('bankInit', config.bankInit, "'random' or 'zeros'");
    checkPolicyOptions(cropJitterViews, config.views, 'views');
  },
  views: (config) => ({ unlabeled: { name: 'cropJitter', overrides: { ...config.views } } }),
  // The paper: SGD lr 0.03, momentum 0.9, weight decay 5e-4, 200 epochs; Adam for our short budgets.
  training: {
    optimizer: { kind: 'adam', lr: 2e-3 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 256,
    epochs: 10,
  },
  build({ config, createEncoder, rng, sampleCount }) {
    const encoder = createEncoder();
    // The paper replaces the classifier with a linear layer to 128 dimensions, then L2 normalisation.
    const embedding = linearClassifier({ inputDim: encoder.featureDim, numClasses: config.embeddingDim, seed: rng.seed() });
    const bank = createMemoryBank({ size: sampleCount, dim: config.embeddingDim, seed: rng.seed(), init: config.bankInit });

    return {
      encoder,
      trainable: { encoder: encoder.model, embedding },
      state: { memoryBank: bank },
      step(batch, context) {
        const [view] = batch.views;
        if (view === undefined) invalidConfig('views', batch.views.length, 'one view per image (the cropJitter policy)');
        const features = l2Normalize(embedding.apply(encoder.features(view, { training: true }), { training: true }) as Tensor2D);
        const memory = stopGradient(bank as unknown as Tensor2D);
        const ids = tf.tensor1d(batch.indices, 'int32');
        let loss: Scalar;
        if (config.softmax === 'full') {
          // Eq. 2 over all n entries: class i of image i.
          loss = hardLabelCrossEntropy(tf.div(tf.matMul(features, memory, false, true), config.temperature) as Tensor2D, ids);
        } else {
          // The own entry against m entries drawn uniformly with replacement, from the step's checkpointed rng.
          const drawn = Int32Array.from({ length: config.negatives }, () => context.rng.int(sampleCount));
          loss = infoNceLoss(features, tf.gather(memory, ids) as Tensor2D, tf.gather(memory, tf.tensor1d(drawn, 'int32')) as Tensor2D, {
            temperature: config.temperature,
          });
        }
        // How close each feature already is to its own memory (1: the bank agrees with the network).
        const memoryCosine = tf.mean(tf.sum(tf.mul(features, tf.gather(memory, ids)), 1)) as Scalar;
        return { loss, metrics: { memoryCosine }, carry: { features: stopGradient(features) } };
      },
      // Sec. 3.2: the entries of this batch move towards this step's features (no second forward pass).
      afterStep(batch, _context, carry) {
        if (carry) bank.assign(updatedMemoryBank(bank as unknown as Tensor2D, batch.indices, carry.features, config.bankMomentum));
      },
    };
  },
});
