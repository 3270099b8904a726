import * as tf from '@tensorflow/tfjs-core';
import type { Scalar } from '@tensorflow/tfjs-core';
import { SslError, accuracy, defineMethod, hardLabelCrossEntropy } from '@ssl/core';
import { entropyLoss } from '../losses/entropy';
import { sigmoidRampUp } from '../schedules/ramps';
import { NO_UNLABELED_VIEWS, createClassifierNetwork, forwardTogether, requireClasses, supervisedStep } from '../shared/classifier-network';
import type { SemisupRuntime } from '../shared/classifier-network';
import { STUDENT_EMA_DEFAULTS, studentRuntimeParts, validateEma } from '../shared/ema-model';
import type { EmaSettings } from '../shared/ema-model';
import { SEMISUP_TRAINING } from '../shared/training';
import { requireDropout, requireFraction, requireNonNegativeNumber, requirePositiveInteger } from '../shared/validate';

/**
 * Entropy minimisation (Grandvalet & Bengio 2005): cross-entropy on the labeled images plus λ times the
 * entropy of the predictions on the unlabeled ones, which pushes decision boundaries into low-density regions.
 */
export interface EntropyMinConfig extends EmaSettings {
  /** Unlabeled images per labeled image in a batch. */
  unlabeledRatio: number;
  /** λ, the weight of the entropy term after the ramp-up; 0 is the supervised-only ablation. */
  entropyWeight: number;
  /** Length of a Gaussian ramp-up exp(−5(1 − T)²) of λ, as a fraction of the run; 0 for none (the paper). */
  rampUp: number;
  /** Dropout on the classifier's input features (the encoder's is its spec's `dropout`). */
  dropout: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:entropy-min': EntropyMinConfig;
  }
}

export const entropyMin = defineMethod<EntropyMinConfig, 'semi-supervised'>({
  name: 'entropy-min',
  description: 'Labeled cross-entropy plus λ · entropy of the unlabeled predictions (entropy minimisation, Grandvalet & Bengio 2005).',
  paper: {
    title: 'Semi-supervised Learning by Entropy Minimization',
    authors: 'Grandvalet, Bengio',
    year: 2005,
    url: 'https://papers.nips.cc/paper/2740-semi-supervised-learning-by-entropy-minimization',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  defaults: {
    ...STUDENT_EMA_DEFAULTS,
    unlabeledRatio: 3,
    entropyWeight: 1,
    rampUp: 0.3,
    dropout: 0,
  },
  validate(config) {
    validateEma(config);
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio);
    requireNonNegativeNumber('entropyWeight', config.entropyWeight, 'a finite number ≥ 0 (λ; 0 = supervised only)');
    requireFraction('rampUp', config.rampUp);
    requireDropout('dropout', config.dropout);
  },
  // The supervised-only ablation: same networks, labels and steps, the unlabeled term off.
  supervisedControl: (config) => ({ ...config, entropyWeight: 0 }),
  views: (config) => ({
    labeled: 'weak',
    unlabeled: config.entropyWeight === 0 ? NO_UNLABELED_VIEWS : 'weak',
  }),
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime {
    const { config } = context;
    const numClasses = requireClasses('semisup:entropy-min', context.numClasses);
    const student = createClassifierNetwork(context, numClasses, config.dropout);
    return {
      ...studentRuntimeParts(context, student, () => createClassifierNetwork(context, numClasses, config.dropout)),
      step(batch, stepContext) {
        if (config.entropyWeight === 0) return supervisedStep(student, batch.labeled);
        const labels = batch.labeled.labels;
        const [view] = batch.unlabeled.views;
        if (!view) throw new SslError('shape-mismatch', 'semisup:entropy-min expects one view of the unlabeled batch.');
        const [labeledLogits, unlabeledLogits] = forwardTogether(student, [batch.labeled.views[0], view], true);
        const supervisedLoss = hardLabelCrossEntropy(labeledLogits, labels);
        const entropy = entropyLoss(unlabeledLogits);
        const weight = config.entropyWeight * sigmoidRampUp(stepContext.progress, config.rampUp);
        const loss = tf.add(supervisedLoss, tf.mul(weight, entropy)) as Scalar;
        return {
          loss,
          metrics: { supervisedLoss, entropy, entropyWeight: tf.scalar(weight), supervisedAccuracy: accuracy(labeledLogits, labels) },
        };
      },
    };
  },
});
