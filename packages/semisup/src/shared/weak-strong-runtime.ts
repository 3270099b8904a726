import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, invalidConfig } from '@ssl/core';
import type { BuildContext, MethodViews, SemiSupervisedBatch, ViewPolicyRef } from '@ssl/core';
import { classwiseThresholdLoss } from '../losses/classwise-threshold';
import type { ClasswiseThresholdLossInput, ClasswiseThresholdLossResult } from '../losses/classwise-threshold';
import { softPseudoLabelLoss } from '../losses/soft-pseudo-label';
import { createClassifierNetwork, forwardTogether } from './classifier-network';
import type { ClassifierNetwork } from './classifier-network';
import { emaModelParts } from './ema-model';
import type { EmaSettings, ReportedStudentParts } from './ema-model';
import { NO_UNLABELED_VIEWS } from './classifier-network';
import { requireDropout, requireFraction, requireNonNegativeNumber } from './validate';
import { weakRandAugment } from '../views/weak-rand-augment';

/**
 * A student and its EMA copy (the model FixMatch, FlexMatch and FreeMatch report), as the runtime fields
 * every such method returns: the EMA encoder is evaluated and saved, the EMA classifier is the product.
 */
export function studentWithEma<Config extends EmaSettings & { readonly dropout?: number }>(
  context: BuildContext<Config>,
  numClasses: number,
): ReportedStudentParts & { readonly student: ClassifierNetwork } {
  const dropout = context.config.dropout ?? 0;
  const student = createClassifierNetwork(context, numClasses, dropout);
  return { student, ...emaModelParts(context, student, () => createClassifierNetwork(context, numClasses, dropout)) };
}

export interface WeakStrongLogits {
  readonly labeledLogits: Tensor2D;
  readonly weakLogits: Tensor2D;
  readonly strongLogits: Tensor2D;
}

/**
 * Logits of [labeled; unlabeled weak; unlabeled strong] from one forward pass, so batch norm sees all three
 * (FixMatch's reference code interleaves them).
 */
export function forwardWeakStrong(student: ClassifierNetwork, batch: SemiSupervisedBatch, methodId: string): WeakStrongLogits {
  const [weak, strong] = batch.unlabeled.views;
  if (!weak || !strong)
    throw new SslError('shape-mismatch', `${methodId} expects [weak, strong] views of the unlabeled batch (policy weakStrong).`);
  const [labeledLogits, weakLogits, strongLogits] = forwardTogether(student, [batch.labeled.views[0], weak, strong], true);
  return { labeledLogits, weakLogits, strongLogits };
}

/** The class frequencies [K] of the labeled pool (ReMixMatch's p(y)); uniform when the pool has no labels. */
export function labeledClassMarginal<Config>(context: BuildContext<Config>, numClasses: number): Tensor1D {
  const labels = context.pools.get('labeled')?.labels;
  const counts = new Float32Array(numClasses);
  if (labels && labels.length > 0) labels.forEach((label) => (counts[label] += 1 / labels.length));
  else counts.fill(1 / numClasses);
  return tf.tensor1d(counts);
}

/** x ← m·x + (1 − m)·value, as a new tensor (the caller assigns it after the step). */
export function movingAverage<T extends tf.Tensor>(previous: T, value: T, momentum: number): T {
  return tf.add(tf.mul(previous, momentum), tf.mul(value, 1 - momentum)) as T;
}

/** The pseudo-label settings FixMatch, FlexMatch and FreeMatch share. */
export interface PseudoLabelSettings {
  /** 'hard' (the papers': the weak view's one-hot argmax) or 'soft' (its sharpened distribution, same mask). */
  readonly pseudoLabels: 'hard' | 'soft';
  /** T of the soft targets' sharpening (`softPseudoLabelLoss`); unused with hard pseudo-labels. */
  readonly temperature: number;
}

export function validatePseudoLabels(config: PseudoLabelSettings): void {
  if (config.pseudoLabels !== 'hard' && config.pseudoLabels !== 'soft')
    invalidConfig('pseudoLabels', config.pseudoLabels, "'hard' or 'soft'");
  if (typeof config.temperature !== 'number' || !(config.temperature > 0) || !Number.isFinite(config.temperature))
    invalidConfig('temperature', config.temperature, 'a finite number > 0 (the soft targets are Sharpen(q, T); 0.5 as MixMatch)');
}

/** FixMatch's, FlexMatch's and FreeMatch's gentle fine-tune of a pretrained encoder. */
export interface EncoderLearningRateSettings {
  /**
   * The student encoder's learning rate as a fraction of the classifier's (core's `learningRateScales`): below 1
   * fine-tunes an encoder started from a self-supervised run (`ssl semisup --init`) more gently than the new
   * classifier learns; 0 keeps its weights (batch-norm statistics still follow the batches). Default 1.
   */
  readonly encoderLearningRateScale: number;
}

export function validateEncoderLearningRateScale(config: EncoderLearningRateSettings): void {
  const expected = "a finite number ≥ 0 (the encoder's lr over the classifier's)";
  requireNonNegativeNumber('encoderLearningRateScale', config.encoderLearningRateScale, expected);
}

/** The runtime's `learningRateScales` for that setting; none at 1, so a default run's optimizer is unchanged. */
export function encoderLearningRateScales(config: EncoderLearningRateSettings): { learningRateScales?: Record<string, number> } {
  const scale = config.encoderLearningRateScale;
  return scale === 1 ? {} : { learningRateScales: { encoder: scale, classifier: 1 } };
}

/** ℓ_u under a threshold per predicted class, with hard (`classwiseThresholdLoss`) or soft (`softPseudoLabelLoss`) targets. */
export function thresholdedUnlabeledLoss(settings: PseudoLabelSettings, input: ClasswiseThresholdLossInput): ClasswiseThresholdLossResult {
  return settings.pseudoLabels === 'soft'
    ? softPseudoLabelLoss({ ...input, temperature: settings.temperature })
    : classwiseThresholdLoss(input);
}

/** Overrides of the 'weakStrong' view policy that FixMatch, FlexMatch and FreeMatch train with. */
export interface StrongViewSettings {
  /**
   * translateFraction (both views' translation, the labeled view's too), numOps and magnitude (RandAugment's N
   * and M of the strong view), cutoutSize (its Cutout side over the image side). Default {}: FixMatch's policy.
   */
  readonly augment: { translateFraction?: number; numOps?: number; magnitude?: number; cutoutSize?: number };
}

export function validateStrongView(config: StrongViewSettings): void {
  const augment = config.augment ?? {};
  if (typeof augment !== 'object' || augment === null) invalidConfig('augment', augment, 'an object of weakStrong policy overrides');
  if (augment.translateFraction !== undefined && !(augment.translateFraction >= 0 && augment.translateFraction < 1))
    invalidConfig('augment.translateFraction', augment.translateFraction, 'a number in [0, 1)');
  if (augment.numOps !== undefined && !(Number.isInteger(augment.numOps) && augment.numOps >= 0))
    invalidConfig('augment.numOps', augment.numOps, 'a non-negative integer');
  if (augment.magnitude !== undefined && !(augment.magnitude >= 0 && augment.magnitude <= 30))
    invalidConfig('augment.magnitude', augment.magnitude, 'a number in [0, 30]');
  if (augment.cutoutSize !== undefined) requireFraction('augment.cutoutSize', augment.cutoutSize);
}

/**
 * Noise on the labeled branch of FixMatch, FlexMatch and FreeMatch: Noisy Student's model and input noise
 * (Xie et al. 2020 §3), which the papers of the three leave out. A supervised-only ablation (λu = 0) keeps it,
 * so the method is compared with labels-only training under the same noise.
 */
export interface LabeledNoiseSettings {
  /** Dropout on the classifier's input features, in training only; 0 (default) is the papers' network. */
  readonly dropout: number;
  /** The labeled images' view: 'weak' (default, FixMatch §2.3) or 'randAugment' (weak, then RandAugment N 2 at random magnitudes, no Cutout). */
  readonly labeledView: 'weak' | 'randAugment';
}

export const NO_LABELED_NOISE: LabeledNoiseSettings = { dropout: 0, labeledView: 'weak' };

export function validateLabeledNoise(config: LabeledNoiseSettings): void {
  requireDropout('dropout', config.dropout);
  if (config.labeledView !== 'weak' && config.labeledView !== 'randAugment')
    invalidConfig('labeledView', config.labeledView, "'weak' or 'randAugment'");
}

/**
 * Labeled images' view (`labeledView`), [weak, strong] of unlabeled ones with `augment`'s overrides; no
 * unlabeled views at all for the supervised-only ablation (λu = 0).
 */
export function weakStrongViews(config: StrongViewSettings & LabeledNoiseSettings & { readonly unlabeledWeight: number }): MethodViews {
  const augment = config.augment ?? {};
  const weakStrong: ViewPolicyRef = { name: 'weakStrong', overrides: { ...augment } };
  const { translateFraction } = augment;
  return {
    labeled:
      config.labeledView === 'randAugment'
        ? weakRandAugment({ translateFraction })
        : { name: 'weak', overrides: translateFraction === undefined ? {} : { translateFraction } },
    unlabeled: config.unlabeledWeight === 0 ? NO_UNLABELED_VIEWS : weakStrong,
  };
}
