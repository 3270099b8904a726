import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { accuracy, defineMethod, hardLabelCrossEntropy, invalidConfig, requireRank, stopGradient } from '@ssl/core';
import { selfAdaptiveFairnessLoss } from '../losses/fairness';
import { requireClasses, supervisedStep } from '../shared/classifier-network';
import type { SemisupRuntime } from '../shared/classifier-network';
import { SEMISUP_TRAINING } from '../shared/training';
import { requireEmaDecay, requireNonNegativeNumber, requirePositiveInteger } from '../shared/validate';
import {
  NO_LABELED_NOISE,
  encoderLearningRateScales,
  forwardWeakStrong,
  movingAverage,
  studentWithEma,
  thresholdedUnlabeledLoss,
  validateEncoderLearningRateScale,
  validateLabeledNoise,
  validatePseudoLabels,
  validateStrongView,
  weakStrongViews,
} from '../shared/weak-strong-runtime';
import type { EncoderLearningRateSettings, LabeledNoiseSettings, StrongViewSettings } from '../shared/weak-strong-runtime';

/**
 * FreeMatch (Wang et al. 2023): FixMatch whose threshold adapts itself. A global threshold τ_t follows the
 * EMA of the model's confidence on unlabeled data (low early, so pseudo-labels start flowing; high once the
 * model is confident), and each class's local threshold scales it by the EMA class marginal, so classes the
 * model rarely predicts need less confidence.
 */
export interface FreeMatchConfig extends EncoderLearningRateSettings, StrongViewSettings, LabeledNoiseSettings {
  /** μ, unlabeled images per labeled image. */
  unlabeledRatio: number;
  /** λu, weight of the unlabeled loss; 0 is the supervised-only ablation. */
  unlabeledWeight: number;
  /** λ, momentum of the EMAs of confidence, class marginal and histogram (paper: 0.999). */
  thresholdMomentum: number;
  /** w_f, weight of the self-adaptive fairness loss (eq. 10); 0 (default) leaves it out. */
  fairnessWeight: number;
  /** Decay of the evaluated EMA model, ramped in as FixMatch's (`emaWarmup`). */
  emaDecay: number;
  emaWarmup: boolean;
  /** 'hard' (the paper's argmax) or 'soft' (the sharpened weak distribution, same class-wise mask), as FixMatch's. */
  pseudoLabels: 'hard' | 'soft';
  /** T of the soft pseudo-labels' sharpening [0.5]. */
  temperature: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:freematch': FreeMatchConfig;
  }
}

/** FreeMatch's self-adaptive state after a batch: τ_t [1], p̃_t [K] and h̃_t [K]. */
export interface FreeMatchState {
  readonly globalThreshold: Tensor1D;
  readonly classMarginal: Tensor1D;
  readonly histogram: Tensor1D;
}

/**
 * One update of FreeMatch's state from the weak-view probabilities q [N, K] of a batch (eq. 5–7 and the
 * histogram of eq. 10): τ_t = λτ_{t−1} + (1 − λ) mean_b max q_b; p̃_t = λp̃_{t−1} + (1 − λ) mean_b q_b;
 * h̃_t = λh̃_{t−1} + (1 − λ) Hist(argmax q_b) (normalised).
 */
export function freeMatchUpdate(previous: FreeMatchState, probabilities: Tensor2D, momentum: number): FreeMatchState {
  requireRank('probabilities', probabilities, 2, '[N, K]');
  return tf.tidy(() => {
    const classes = probabilities.shape[1];
    const histogram = tf.mean(tf.oneHot(tf.argMax(probabilities, 1), classes).toFloat(), 0) as Tensor1D;
    return {
      globalThreshold: movingAverage(previous.globalThreshold, tf.reshape(tf.mean(tf.max(probabilities, 1)), [1]) as Tensor1D, momentum),
      classMarginal: movingAverage(previous.classMarginal, tf.mean(probabilities, 0) as Tensor1D, momentum),
      histogram: movingAverage(previous.histogram, histogram, momentum),
    };
  });
}

/** FreeMatch's local thresholds τ_t(c) = MaxNorm(p̃_t)(c) · τ_t (eq. 8): p̃_t(c) / max_c p̃_t(c) · τ_t. */
export function freeMatchThresholds(globalThreshold: Tensor1D, classMarginal: Tensor1D): Tensor1D {
  requireRank('classMarginal', classMarginal, 1, '[K]');
  return tf.tidy(() => tf.mul(tf.div(classMarginal, tf.max(classMarginal)), globalThreshold) as Tensor1D);
}

export const freematch = defineMethod<FreeMatchConfig, 'semi-supervised', FreeMatchState>({
  name: 'freematch',
  description: 'FixMatch with self-adaptive global and class-wise thresholds from EMAs of confidence (FreeMatch, Wang et al. 2023).',
  paper: {
    title: 'FreeMatch: Self-adaptive Thresholding for Semi-supervised Learning',
    authors: 'Wang, Chen, Heng, Hou, Fan, Wu, Wang, Savvides, Shinozaki, Raj, Schiele, Xie',
    year: 2023,
    url: 'https://arxiv.org/abs/2205.07246',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  defaults: {
    unlabeledRatio: 7,
    unlabeledWeight: 1,
    thresholdMomentum: 0.999,
    fairnessWeight: 0,
    emaDecay: 0.999,
    emaWarmup: true,
    pseudoLabels: 'hard',
    temperature: 0.5,
    encoderLearningRateScale: 1,
    ...NO_LABELED_NOISE,
    augment: {},
  },
  validate(config) {
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio, 'a positive integer (μ; the paper uses 7)');
    requireNonNegativeNumber('unlabeledWeight', config.unlabeledWeight, 'a finite number ≥ 0 (λu; 0 = supervised only)');
    requireEmaDecay('thresholdMomentum', config.thresholdMomentum);
    requireNonNegativeNumber('fairnessWeight', config.fairnessWeight, 'a finite number ≥ 0 (w_f; 0 = no fairness term)');
    requireEmaDecay('emaDecay', config.emaDecay);
    if (typeof config.emaWarmup !== 'boolean') invalidConfig('emaWarmup', config.emaWarmup, 'true or false');
    validatePseudoLabels(config);
    validateEncoderLearningRateScale(config);
    validateStrongView(config);
    validateLabeledNoise(config);
  },
  // The supervised-only ablation: same networks, labels and steps, the unlabeled term off.
  supervisedControl: (config) => ({ ...config, unlabeledWeight: 0 }),
  views: weakStrongViews,
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime<FreeMatchState> {
    const { config } = context;
    const numClasses = requireClasses('semisup:freematch', context.numClasses);
    const { student, ...networks } = studentWithEma(context, numClasses);
    // τ_0 = 1/K, p̃_0 = h̃_0 = uniform (paper sec. 3.2 and the reference initialisation); checkpoints save them.
    const uniform = () => tf.tidy(() => tf.variable(tf.fill([numClasses], 1 / numClasses), false)) as tf.Variable<tf.Rank.R1>;
    const globalThreshold = tf.tidy(() => tf.variable(tf.fill([1], 1 / numClasses), false)) as tf.Variable<tf.Rank.R1>;
    const classMarginal = uniform();
    const histogram = uniform();
    return {
      ...networks,
      ...encoderLearningRateScales(config),
      state: { globalThreshold, classMarginal, histogram },
      step(batch) {
        if (config.unlabeledWeight === 0) return supervisedStep(student, batch.labeled);
        const labels = batch.labeled.labels;
        const { labeledLogits, weakLogits, strongLogits } = forwardWeakStrong(student, batch, 'semisup:freematch');
        const weakProbabilities = stopGradient(tf.softmax(weakLogits)) as Tensor2D;
        // The thresholds of this batch already include it (the reference updates before masking).
        const updated = freeMatchUpdate({ globalThreshold, classMarginal, histogram }, weakProbabilities, config.thresholdMomentum);
        const classThresholds = freeMatchThresholds(updated.globalThreshold, updated.classMarginal);
        const unlabeled = thresholdedUnlabeledLoss(config, { weakProbabilities, logitsStrong: strongLogits, classThresholds });
        const supervisedLoss = hardLabelCrossEntropy(labeledLogits, labels);
        // ℓ = ℓ_s + λu ℓ_u + w_f L_f (eq. 11).
        let loss = tf.add(supervisedLoss, tf.mul(config.unlabeledWeight, unlabeled.loss)) as Scalar;
        const metrics: Record<string, Scalar> = {
          supervisedLoss,
          unlabeledLoss: unlabeled.loss,
          maskRate: tf.mean(unlabeled.mask) as Scalar,
          globalThreshold: tf.reshape(updated.globalThreshold, []) as Scalar,
          supervisedAccuracy: accuracy(labeledLogits, labels),
        };
        if (config.fairnessWeight > 0) {
          const fairnessLoss = selfAdaptiveFairnessLoss(strongLogits, unlabeled.mask, updated.classMarginal, updated.histogram);
          loss = tf.add(loss, tf.mul(config.fairnessWeight, fairnessLoss)) as Scalar;
          metrics.fairnessLoss = fairnessLoss;
        }
        return { loss, metrics, carry: updated };
      },
      afterStep(_batch, _context, carry) {
        if (!carry) return;
        globalThreshold.assign(carry.globalThreshold);
        classMarginal.assign(carry.classMarginal);
        histogram.assign(carry.histogram);
      },
    };
  },
});
