import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { accuracy, defineMethod, hardLabelCrossEntropy, invalidConfig, requireRank, stopGradient } from '@ssl/core';
import { distributionAlignment } from '../losses/distribution-alignment';
import { requireClasses, supervisedStep } from '../shared/classifier-network';
import type { SemisupRuntime } from '../shared/classifier-network';
import { SEMISUP_TRAINING } from '../shared/training';
import { requireEmaDecay, requireFraction, requireNonNegativeNumber, requirePositiveInteger } from '../shared/validate';
import {
  NO_LABELED_NOISE,
  encoderLearningRateScales,
  forwardWeakStrong,
  labeledClassMarginal,
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
 * FlexMatch (Zhang et al. 2021): FixMatch with Curriculum Pseudo Labeling. Each class's threshold scales with
 * how many unlabeled samples the model currently predicts confidently as that class, so classes it is still
 * bad at get lower thresholds (more, if noisier, pseudo-labels) and classes it over-predicts keep τ.
 */
export interface FlexMatchConfig extends EncoderLearningRateSettings, StrongViewSettings, LabeledNoiseSettings {
  /** τ, the fixed threshold the curriculum scales (paper: 0.95). */
  threshold: number;
  /** μ, unlabeled images per labeled image. */
  unlabeledRatio: number;
  /** λu, weight of the unlabeled loss; 0 is the supervised-only ablation (unlabeled images not forwarded). */
  unlabeledWeight: number;
  /**
   * Threshold warm-up (paper eq. 11): normalise the counts by max(max_c σ(c), N − Σ_c σ(c)), so while most
   * unlabeled samples have no confident prediction yet the thresholds rise slowly from 0. Default true.
   */
  thresholdWarmup: boolean;
  /** Distribution alignment of the weak-view predictions (ReMixMatch), before thresholding. Default false. */
  distributionAlignment: boolean;
  /** Momentum of the running prediction marginal p̃(y) that distribution alignment divides by. */
  alignmentMomentum: number;
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
    'semisup:flexmatch': FlexMatchConfig;
  }
}

/** What a FlexMatch step hands to afterStep: the samples whose confidence reached τ and their predicted classes. */
export interface FlexMatchCarry {
  readonly ids: Tensor1D;
  readonly confident: Tensor1D;
  readonly pseudoLabels: Tensor1D;
  readonly modelMarginal?: Tensor1D;
}

/** The paper's non-linear mapping M(x) = x / (2 − x) (eq. 12): convex, M(0) = 0, M(1) = 1. */
export function flexMatchMapping(x: number): number {
  return x / (2 - x);
}

/**
 * FlexMatch's class thresholds T_t(c) = M(β_t(c)) · τ (eq. 6 and 12), with the learning effect
 * σ_t(c) = #{unlabeled n : the latest prediction of n with confidence ≥ τ is c} (eq. 5) and
 * β_t(c) = σ_t(c) / max_c σ_t (eq. 7) or, with warm-up, σ_t(c) / max(max_c σ_t, N − Σ_c σ_t) (eq. 11).
 * A 0/0 (nothing confident yet, no warm-up) gives β = 0, as the reference code's zero-initialised class accuracies.
 *
 * @param classCounts [K] σ_t(c). @param unlabeledCount N, the unlabeled pool size.
 */
export function flexMatchThresholds(classCounts: Tensor1D, unlabeledCount: number, threshold: number, warmup: boolean): Tensor1D {
  requireRank('classCounts', classCounts, 1, '[K]');
  return tf.tidy(() => {
    const largest = tf.max(classCounts);
    const normaliser = warmup ? tf.maximum(largest, tf.sub(unlabeledCount, tf.sum(classCounts))) : largest;
    const learningEffect = tf.divNoNan(classCounts, normaliser);
    // M(β) = β / (2 − β), times τ.
    return tf.mul(tf.div(learningEffect, tf.sub(2, learningEffect)), threshold) as Tensor1D;
  });
}

export const flexmatch = defineMethod<FlexMatchConfig, 'semi-supervised', FlexMatchCarry>({
  name: 'flexmatch',
  description: 'FixMatch with class-wise curriculum thresholds from the count of confident predictions (FlexMatch, Zhang et al. 2021).',
  paper: {
    title: 'FlexMatch: Boosting Semi-Supervised Learning with Curriculum Pseudo Labeling',
    authors: 'Zhang, Wang, Hou, Wu, Wang, Okumura, Shinozaki',
    year: 2021,
    url: 'https://arxiv.org/abs/2110.08263',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  defaults: {
    threshold: 0.95,
    unlabeledRatio: 7,
    unlabeledWeight: 1,
    thresholdWarmup: true,
    distributionAlignment: false,
    alignmentMomentum: 0.999,
    emaDecay: 0.999,
    emaWarmup: true,
    pseudoLabels: 'hard',
    temperature: 0.5,
    encoderLearningRateScale: 1,
    ...NO_LABELED_NOISE,
    augment: {},
  },
  validate(config) {
    requireFraction('threshold', config.threshold);
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio, 'a positive integer (μ; the paper uses 7)');
    requireNonNegativeNumber('unlabeledWeight', config.unlabeledWeight, 'a finite number ≥ 0 (λu; 0 = supervised only)');
    if (typeof config.thresholdWarmup !== 'boolean') invalidConfig('thresholdWarmup', config.thresholdWarmup, 'true or false');
    if (typeof config.distributionAlignment !== 'boolean')
      invalidConfig('distributionAlignment', config.distributionAlignment, 'true or false');
    requireEmaDecay('alignmentMomentum', config.alignmentMomentum);
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
  build(context): SemisupRuntime<FlexMatchCarry> {
    const { config, sampleCount } = context;
    const numClasses = requireClasses('semisup:flexmatch', context.numClasses);
    const { student, ...networks } = studentWithEma(context, numClasses);
    const unlabeledCount = context.pools.get('unlabeled')?.ids.length ?? sampleCount;
    // Per sample id: the class of its latest prediction with confidence ≥ τ, −1 while it has none (the
    // reference's `selected_label`). Float32 so checkpoints store it as every other state; labels are exact.
    const selectedLabels = tf.tidy(() => tf.variable(tf.fill([sampleCount], -1), false)) as tf.Variable<tf.Rank.R1>;
    const modelMarginal = tf.tidy(() => tf.variable(tf.fill([numClasses], 1 / numClasses), false)) as tf.Variable<tf.Rank.R1>;
    const labelMarginal = tf.tidy(() => tf.variable(labeledClassMarginal(context, numClasses), false)) as tf.Variable<tf.Rank.R1>;
    return {
      ...networks,
      ...encoderLearningRateScales(config),
      state: { selectedLabels, modelMarginal, labelMarginal },
      step(batch) {
        if (config.unlabeledWeight === 0) return supervisedStep(student, batch.labeled);
        const labels = batch.labeled.labels;
        const { labeledLogits, weakLogits, strongLogits } = forwardWeakStrong(student, batch, 'semisup:flexmatch');
        let weakProbabilities = stopGradient(tf.softmax(weakLogits)) as Tensor2D;
        let updatedMarginal: Tensor1D | undefined;
        if (config.distributionAlignment) {
          // p̃(y) includes this batch (USB updates it before aligning), assigned in afterStep.
          updatedMarginal = movingAverage(modelMarginal, tf.mean(weakProbabilities, 0) as Tensor1D, config.alignmentMomentum);
          weakProbabilities = distributionAlignment(weakProbabilities, updatedMarginal, labelMarginal);
        }
        const classCounts = tf.sum(tf.oneHot(tf.cast(selectedLabels, 'int32'), numClasses), 0) as Tensor1D;
        const classThresholds = flexMatchThresholds(classCounts, unlabeledCount, config.threshold, config.thresholdWarmup);
        const unlabeled = thresholdedUnlabeledLoss(config, { weakProbabilities, logitsStrong: strongLogits, classThresholds });
        const supervisedLoss = hardLabelCrossEntropy(labeledLogits, labels);
        const loss = tf.add(supervisedLoss, tf.mul(config.unlabeledWeight, unlabeled.loss)) as Scalar;
        return {
          loss,
          metrics: {
            supervisedLoss,
            unlabeledLoss: unlabeled.loss,
            maskRate: tf.mean(unlabeled.mask) as Scalar,
            meanClassThreshold: tf.mean(classThresholds) as Scalar,
            supervisedAccuracy: accuracy(labeledLogits, labels),
          },
          carry: {
            ids: tf.tensor1d(batch.unlabeled.indices, 'int32'),
            confident: tf.cast(tf.greaterEqual(unlabeled.confidence, config.threshold), 'float32') as Tensor1D,
            pseudoLabels: tf.cast(unlabeled.pseudoLabels, 'float32') as Tensor1D,
            modelMarginal: updatedMarginal,
          },
        };
      },
      afterStep(_batch, _context, carry) {
        if (!carry) return;
        // selected_label[n] ← argmax q_n where max q_n ≥ τ (ids are distinct within a batch).
        const rows = tf.expandDims(carry.ids, 1) as tf.Tensor2D;
        const previous = tf.gather(selectedLabels, carry.ids);
        const change = tf.mul(carry.confident, tf.sub(carry.pseudoLabels, previous));
        selectedLabels.assign(tf.add(selectedLabels, tf.scatterND(rows, change, [sampleCount])));
        if (carry.modelMarginal) modelMarginal.assign(carry.modelMarginal);
      },
    };
  },
});
