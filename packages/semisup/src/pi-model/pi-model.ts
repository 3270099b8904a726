import * as tf from '@tensorflow/tfjs-core';
import type { Scalar } from '@tensorflow/tfjs-core';
import { SslError, accuracy, defineMethod, hardLabelCrossEntropy } from '@ssl/core';
import { consistencyMse } from '../losses/consistency-mse';
import { sigmoidRampUp } from '../schedules/ramps';
import { NO_UNLABELED_VIEWS, createClassifierNetwork, forwardTogether, requireClasses, supervisedStep } from '../shared/classifier-network';
import type { SemisupRuntime } from '../shared/classifier-network';
import { STUDENT_EMA_DEFAULTS, studentRuntimeParts, validateEma } from '../shared/ema-model';
import type { EmaSettings } from '../shared/ema-model';
import { SEMISUP_TRAINING } from '../shared/training';
import { requireDropout, requireFraction, requireNonNegativeNumber, requirePositiveInteger } from '../shared/validate';

/**
 * Π-model (Laine & Aila 2017, Algorithm 1): every unlabeled image goes through the network twice, with
 * different augmentation and dropout; the squared difference of the two softmax outputs is penalised with a
 * weight that ramps up from 0.
 */
export interface PiModelConfig extends EmaSettings {
  /** Unlabeled images per labeled image in a batch. */
  unlabeledRatio: number;
  /** w_max, the weight of the consistency term after the ramp-up; 0 is the supervised-only ablation. */
  consistencyWeight: number;
  /** Length of the Gaussian ramp-up exp(−5(1 − T)²) as a fraction of the run (paper: 80 of 300 epochs). */
  rampUp: number;
  /** Dropout on the classifier's input features: the model noise of the two passes (the encoder's is its spec's). */
  dropout: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:pi-model': PiModelConfig;
  }
}

export const piModel = defineMethod<PiModelConfig, 'semi-supervised'>({
  name: 'pi-model',
  description: 'Two stochastic passes of each unlabeled image must agree (Π-model, Laine & Aila 2017).',
  paper: {
    title: 'Temporal Ensembling for Semi-Supervised Learning',
    authors: 'Laine, Aila',
    year: 2017,
    url: 'https://arxiv.org/abs/1610.02242',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  defaults: {
    ...STUDENT_EMA_DEFAULTS,
    unlabeledRatio: 3,
    consistencyWeight: 10,
    rampUp: 0.27,
    dropout: 0.2,
  },
  validate(config) {
    validateEma(config);
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio);
    requireNonNegativeNumber('consistencyWeight', config.consistencyWeight, 'a finite number ≥ 0 (w_max; 0 = supervised only)');
    requireFraction('rampUp', config.rampUp);
    requireDropout('dropout', config.dropout);
  },
  // The supervised-only ablation: same networks, labels and steps, the unlabeled term off.
  supervisedControl: (config) => ({ ...config, consistencyWeight: 0 }),
  views: (config) => ({
    labeled: 'weak',
    unlabeled: config.consistencyWeight === 0 ? NO_UNLABELED_VIEWS : 'weakPair',
  }),
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime {
    const { config } = context;
    const numClasses = requireClasses('semisup:pi-model', context.numClasses);
    const student = createClassifierNetwork(context, numClasses, config.dropout);
    return {
      ...studentRuntimeParts(context, student, () => createClassifierNetwork(context, numClasses, config.dropout)),
      step(batch, stepContext) {
        if (config.consistencyWeight === 0) return supervisedStep(student, batch.labeled);
        const labels = batch.labeled.labels;
        const [first, second] = batch.unlabeled.views;
        if (!first || !second)
          throw new SslError('shape-mismatch', 'semisup:pi-model expects two views of the unlabeled batch (policy weakPair).');
        // Both passes in one forward: dropout draws an independent mask for every row, so the two copies of
        // an image get different noise; batch norm sees labeled and unlabeled images together.
        const [labeledLogits, firstLogits, secondLogits] = forwardTogether(student, [batch.labeled.views[0], first, second], true);
        const supervisedLoss = hardLabelCrossEntropy(labeledLogits, labels);
        // w(t) · 1/(C|B|) Σ ‖z_i − z̃_i‖² (Algorithm 1). Gradients flow through both passes, as in the paper.
        const consistencyLoss = consistencyMse(tf.softmax(firstLogits), tf.softmax(secondLogits));
        const weight = config.consistencyWeight * sigmoidRampUp(stepContext.progress, config.rampUp);
        const loss = tf.add(supervisedLoss, tf.mul(weight, consistencyLoss)) as Scalar;
        return {
          loss,
          metrics: {
            supervisedLoss,
            consistencyLoss,
            consistencyWeight: tf.scalar(weight),
            supervisedAccuracy: accuracy(labeledLogits, labels),
          },
        };
      },
    };
  },
});
