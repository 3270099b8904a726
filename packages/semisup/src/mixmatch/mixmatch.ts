import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, accuracy, defineMethod, invalidConfig, stopGradient } from '@ssl/core';
import { consistencyMse } from '../losses/consistency-mse';
import { guessLabels } from '../losses/guess-labels';
import { mixup } from '../losses/mixup';
import { softCrossEntropy } from '../losses/soft-cross-entropy';
import { linearRampUp } from '../schedules/ramps';
import { sampleBeta } from '../shared/beta';
import { NO_UNLABELED_VIEWS, forwardTogether, requireClasses, supervisedStep } from '../shared/classifier-network';
import type { SemisupRuntime } from '../shared/classifier-network';
import { SEMISUP_TRAINING } from '../shared/training';
import { requireEmaDecay, requireFraction, requireNonNegativeNumber, requirePositiveInteger } from '../shared/validate';
import { studentWithEma } from '../shared/weak-strong-runtime';

/**
 * MixMatch (Berthelot et al. 2019, Algorithm 1): guess a label for each unlabeled image from the mean
 * prediction over K augmentations, sharpen it, then MixUp labeled and unlabeled images (with their labels
 * and guesses) and train with cross-entropy on the mixed labeled part and squared error on the mixed
 * unlabeled part.
 */
export interface MixMatchConfig {
  /** Unlabeled images per labeled image (the paper's batches are equal: 1). */
  unlabeledRatio: number;
  /** K, augmentations per unlabeled image for label guessing (paper: 2). */
  augmentations: number;
  /** T, the sharpening temperature (paper: 0.5). */
  temperature: number;
  /** α of MixUp's λ ~ Beta(α, α) (paper: 0.75). */
  alpha: number;
  /** λ_U, weight of the unlabeled loss after the ramp-up (paper: 100 as a starting point); 0 is the supervised-only ablation. */
  unlabeledWeight: number;
  /** Length of λ_U's linear ramp-up as a fraction of the run (paper: 16 000 of 2^20 steps ≈ 0.016). */
  rampUp: number;
  /** Decay of the evaluated EMA model (paper: 0.999), ramped in as FixMatch's (`emaWarmup`). */
  emaDecay: number;
  emaWarmup: boolean;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:mixmatch': MixMatchConfig;
  }
}

export const mixmatch = defineMethod<MixMatchConfig, 'semi-supervised'>({
  name: 'mixmatch',
  description: 'Guessed, sharpened labels of K augmentations and MixUp of labeled with unlabeled images (MixMatch, Berthelot et al. 2019).',
  paper: {
    title: 'MixMatch: A Holistic Approach to Semi-Supervised Learning',
    authors: 'Berthelot, Carlini, Goodfellow, Papernot, Oliver, Raffel',
    year: 2019,
    url: 'https://arxiv.org/abs/1905.02249',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  defaults: {
    unlabeledRatio: 1,
    augmentations: 2,
    temperature: 0.5,
    alpha: 0.75,
    unlabeledWeight: 100,
    rampUp: 0.016,
    emaDecay: 0.999,
    emaWarmup: true,
  },
  validate(config) {
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio);
    requirePositiveInteger('augmentations', config.augmentations, 'a positive integer (K; the paper uses 2)');
    if (typeof config.temperature !== 'number' || !(config.temperature > 0) || !Number.isFinite(config.temperature))
      invalidConfig('temperature', config.temperature, 'a finite number > 0 (T; the paper uses 0.5)');
    if (typeof config.alpha !== 'number' || !(config.alpha > 0) || !Number.isFinite(config.alpha))
      invalidConfig('alpha', config.alpha, 'a finite number > 0 (Beta(α, α); the paper uses 0.75)');
    requireNonNegativeNumber('unlabeledWeight', config.unlabeledWeight, 'a finite number ≥ 0 (λ_U; 0 = supervised only)');
    requireFraction('rampUp', config.rampUp);
    requireEmaDecay('emaDecay', config.emaDecay);
    if (typeof config.emaWarmup !== 'boolean') invalidConfig('emaWarmup', config.emaWarmup, 'true or false');
  },
  // The supervised-only ablation: same networks, labels and steps, the unlabeled term off.
  supervisedControl: (config) => ({ ...config, unlabeledWeight: 0 }),
  views: (config) => ({
    labeled: 'weak',
    unlabeled: config.unlabeledWeight === 0 ? NO_UNLABELED_VIEWS : { name: 'weakViews', overrides: { count: config.augmentations } },
  }),
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime {
    const { config } = context;
    const numClasses = requireClasses('semisup:mixmatch', context.numClasses);
    const { student, ...networks } = studentWithEma(context, numClasses);
    return {
      ...networks,
      step(batch, stepContext) {
        if (config.unlabeledWeight === 0) return supervisedStep(student, batch.labeled);
        const labels = batch.labeled.labels;
        const labeledImages = batch.labeled.views[0];
        const views = batch.unlabeled.views;
        if (views.length !== config.augmentations)
          throw new SslError(
            'shape-mismatch',
            `semisup:mixmatch expects K = ${config.augmentations} views of the unlabeled batch, got ${views.length}.`,
          );
        const labeledCount = labeledImages.shape[0];
        // Label guessing (eq. 6–7), one forward over the K views, no gradient.
        const guessed = guessLabels(
          forwardTogether(student, views, true).map((logits) => tf.softmax(logits) as Tensor2D),
          config.temperature,
        );
        // X̂ with one-hot labels and Û (the K views, each with its image's guess); W = Shuffle(Concat(X̂, Û)).
        const images = tf.concat([labeledImages, ...views], 0) as Tensor4D;
        const targets = stopGradient(tf.concat([tf.oneHot(labels, numClasses).toFloat(), ...views.map(() => guessed)], 0)) as Tensor2D;
        const count = images.shape[0];
        const order = tf.tensor1d(stepContext.rng.permutation(count), 'int32');
        // λ ~ Beta(α, α) per sample, as the reference code; mixup takes λ' = max(λ, 1 − λ) (eq. 8–9).
        const lambdas = tf.tensor1d(Array.from({ length: count }, () => sampleBeta(stepContext.rng, config.alpha)));
        // The targets are shuffled by a permutation matrix: a gather by int32 indices breaks tfjs's gradient tape,
        // on which the guesses sit (through their stop-gradient).
        const shuffledTargets = tf.matMul(tf.oneHot(order, count).toFloat(), targets) as Tensor2D;
        const mixed = mixup(images, tf.gather(images, order) as Tensor4D, targets, shuffledTargets, lambdas);
        const unlabeledCount = count - labeledCount;
        const [labeledLogits, unlabeledLogits] = forwardTogether(
          student,
          [
            tf.slice(mixed.x, [0, 0, 0, 0], [labeledCount, -1, -1, -1]),
            tf.slice(mixed.x, [labeledCount, 0, 0, 0], [unlabeledCount, -1, -1, -1]),
          ],
          true,
        );
        const labeledTargets = tf.slice(mixed.p, [0, 0], [labeledCount, -1]);
        const unlabeledTargets = tf.slice(mixed.p, [labeledCount, 0], [unlabeledCount, -1]);
        // L_X (eq. 3): cross-entropy against the mixed labels; L_U (eq. 4): 1/(L|U'|) Σ ‖q − p_model(y | u)‖².
        const supervisedLoss = softCrossEntropy(labeledLogits, labeledTargets);
        const unlabeledLoss = consistencyMse(tf.softmax(unlabeledLogits) as Tensor2D, unlabeledTargets);
        const weight = config.unlabeledWeight * linearRampUp(stepContext.progress, config.rampUp);
        // L = L_X + λ_U L_U (eq. 5).
        const loss = tf.add(supervisedLoss, tf.mul(weight, unlabeledLoss)) as Scalar;
        return {
          loss,
          metrics: {
            supervisedLoss,
            unlabeledLoss,
            unlabeledWeight: tf.scalar(weight),
            // The mixed labeled images keep most of their own image (λ' ≥ 0.5), so their own labels are the reference.
            supervisedAccuracy: accuracy(labeledLogits, labels),
          },
        };
      },
    };
  },
});
