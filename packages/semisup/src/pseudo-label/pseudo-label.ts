import type { Scalar } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { SslError, accuracy, defineMethod, hardLabelCrossEntropy, invalidConfig } from '@ssl/core';
import { fixMatchLoss } from '../losses/fixmatch';
import { pseudoLabelWeight } from '../schedules/ramps';
import { NO_UNLABELED_VIEWS, createClassifierNetwork, forwardTogether, requireClasses, supervisedStep } from '../shared/classifier-network';
import type { SemisupRuntime } from '../shared/classifier-network';
import { STUDENT_EMA_DEFAULTS, studentRuntimeParts, validateEma } from '../shared/ema-model';
import type { EmaSettings } from '../shared/ema-model';
import { requireDropout, requireFraction, requireNonNegativeNumber, requirePositiveInteger } from '../shared/validate';
import { SEMISUP_TRAINING } from '../shared/training';

/**
 * Pseudo-Label (Lee 2013): each unlabeled image is trained towards the class the network currently gives
 * it the highest probability, recomputed at every step, with a weight α(t) that ramps up from 0.
 */
export interface PseudoLabelConfig extends EmaSettings {
  /** Unlabeled images per labeled image in a batch. */
  unlabeledRatio: number;
  /** α_f, the final weight of the unlabeled loss (Lee 2013: 3). 0 is the supervised-only ablation. */
  finalWeight: number;
  /** T1 as a fraction of the run (Lee: epoch 100); α = 0 before it. */
  rampStart: number;
  /** T2 as a fraction of the run (Lee: epoch 600); α = α_f from it on. */
  rampEnd: number;
  /** Keep only pseudo-labels whose max softmax is ≥ this (Lee: 0, every sample; USB's PseudoLabel: 0.95). */
  threshold: number;
  /** Dropout on the classifier's input features (Lee trains with dropout); the encoder's is its spec's `dropout`. */
  dropout: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:pseudo-label': PseudoLabelConfig;
  }
}

export const pseudoLabel = defineMethod<PseudoLabelConfig, 'semi-supervised'>({
  name: 'pseudo-label',
  description: 'The current argmax class of each unlabeled image is its target, with a ramped weight (Pseudo-Label, Lee 2013).',
  paper: {
    title: 'Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method for Deep Neural Networks',
    authors: 'Lee',
    year: 2013,
    url: 'https://www.kaggle.com/blobs/download/forum-message-attachment-files/746/pseudo_label_final.pdf',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  defaults: {
    ...STUDENT_EMA_DEFAULTS,
    unlabeledRatio: 3,
    finalWeight: 3,
    rampStart: 0.1,
    rampEnd: 0.6,
    threshold: 0,
    dropout: 0,
  },
  validate(config) {
    validateEma(config);
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio);
    requireNonNegativeNumber('finalWeight', config.finalWeight, 'a finite number ≥ 0 (α_f; Lee uses 3, 0 = supervised only)');
    requireFraction('rampStart', config.rampStart);
    requireFraction('rampEnd', config.rampEnd);
    if (config.rampEnd < config.rampStart) invalidConfig('rampEnd', config.rampEnd, `a fraction ≥ rampStart (${config.rampStart})`);
    requireFraction('threshold', config.threshold);
    requireDropout('dropout', config.dropout);
  },
  // The supervised-only ablation: same networks, labels and steps, the unlabeled term off.
  supervisedControl: (config) => ({ ...config, finalWeight: 0 }),
  views: (config) => ({
    labeled: 'weak',
    // Supervised-only ablation: no unlabeled views at all.
    unlabeled: config.finalWeight === 0 ? NO_UNLABELED_VIEWS : 'weak',
  }),
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime {
    const { config } = context;
    const numClasses = requireClasses('semisup:pseudo-label', context.numClasses);
    const student = createClassifierNetwork(context, numClasses, config.dropout);
    return {
      ...studentRuntimeParts(context, student, () => createClassifierNetwork(context, numClasses, config.dropout)),
      step(batch, context) {
        if (config.finalWeight === 0) return supervisedStep(student, batch.labeled);
        const labels = batch.labeled.labels;
        const [unlabeledView] = batch.unlabeled.views;
        if (!unlabeledView) throw new SslError('shape-mismatch', 'semisup:pseudo-label expects one view of the unlabeled batch.');
        const [labeledLogits, unlabeledLogits] = forwardTogether(student, [batch.labeled.views[0], unlabeledView], true);
        const supervisedLoss = hardLabelCrossEntropy(labeledLogits, labels);
        // Lee eq. 15: the pseudo-label is the argmax of the same forward pass (no gradient through it), and
        // the cross-entropy of that pass against it; FixMatch's loss with one view for both roles.
        const unlabeled = fixMatchLoss({ logitsWeak: unlabeledLogits, logitsStrong: unlabeledLogits, threshold: config.threshold });
        const weight = pseudoLabelWeight(context.progress, config);
        const loss = tf.add(supervisedLoss, tf.mul(weight, unlabeled.loss)) as Scalar;
        return {
          loss,
          metrics: {
            supervisedLoss,
            unlabeledLoss: unlabeled.loss,
            unlabeledWeight: tf.scalar(weight),
            maskRate: tf.mean(unlabeled.mask) as Scalar,
            supervisedAccuracy: accuracy(labeledLogits, labels),
          },
        };
      },
    };
  },
});
