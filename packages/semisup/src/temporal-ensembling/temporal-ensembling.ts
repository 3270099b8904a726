import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, accuracy, defineMethod, hardLabelCrossEntropy, invalidConfig, stopGradient } from '@ssl/core';
import { consistencyMse } from '../losses/consistency-mse';
import { sigmoidRampUp } from '../schedules/ramps';
import { NO_UNLABELED_VIEWS, createClassifierNetwork, forwardTogether, requireClasses, supervisedStep } from '../shared/classifier-network';
import type { SemisupRuntime } from '../shared/classifier-network';
import { STUDENT_EMA_DEFAULTS, studentRuntimeParts, validateEma } from '../shared/ema-model';
import type { EmaSettings } from '../shared/ema-model';
import { SEMISUP_TRAINING } from '../shared/training';
import { requireDropout, requireFraction, requireNonNegativeNumber, requirePositiveInteger } from '../shared/validate';

/**
 * Temporal ensembling (Laine & Aila 2017, Algorithm 2): each unlabeled sample keeps an exponential moving
 * average Z of the predictions the network gave it at earlier visits (epochs); the bias-corrected average is
 * the target of the current prediction. One forward pass per image per step: the ensemble is updated from
 * the step's own predictions.
 */
export interface TemporalEnsemblingConfig extends EmaSettings {
  /** Unlabeled images per labeled image in a batch. */
  unlabeledRatio: number;
  /** w_max, the weight of the consistency term after the ramp-up; 0 is the supervised-only ablation. */
  consistencyWeight: number;
  /** Length of the Gaussian ramp-up exp(−5(1 − T)²) as a fraction of the run (paper: 80 of 300 epochs). */
  rampUp: number;
  /** α, the ensemble momentum Z ← αZ + (1 − α)z (paper: 0.6). */
  ensembleMomentum: number;
  /** Dropout on the classifier's input features (model noise; the encoder's is its spec's). */
  dropout: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:temporal-ensembling': TemporalEnsemblingConfig;
  }
}

/** What a step hands to afterStep: the sample ids of its unlabeled images and their softmax outputs. */
export interface TemporalEnsemblingCarry {
  readonly ids: Tensor1D;
  readonly probabilities: Tensor2D;
}

/**
 * The bias-corrected ensemble targets z̃ = Z / (1 − α^n) of rows `ids` (Algorithm 2; n is how often each
 * sample was visited, per sample rather than the paper's global epoch count, as samples here are visited on
 * their own schedule) and a mask that is 1 where n > 0 (a sample never seen yet has no target).
 */
export function ensembleTargets(
  ensemble: Tensor2D,
  visits: Tensor1D,
  ids: Tensor1D,
  momentum: number,
): { targets: Tensor2D; mask: Tensor1D } {
  return tf.tidy(() => {
    const counts = tf.gather(visits, ids);
    const seen = tf.greater(counts, 0);
    const denominator = tf.where(seen, tf.sub(1, tf.pow(tf.scalar(momentum), counts)), tf.onesLike(counts));
    const targets = tf.div(tf.gather(ensemble, ids), tf.expandDims(denominator, 1)) as Tensor2D;
    return { targets, mask: tf.cast(seen, 'float32') as Tensor1D };
  });
}

export const temporalEnsembling = defineMethod<TemporalEnsemblingConfig, 'semi-supervised', TemporalEnsemblingCarry>({
  name: 'temporal-ensembling',
  description: 'Each prediction matches the per-sample moving average of earlier predictions (temporal ensembling, Laine & Aila 2017).',
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
    ensembleMomentum: 0.6,
    dropout: 0.2,
  },
  validate(config) {
    validateEma(config);
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio);
    requireNonNegativeNumber('consistencyWeight', config.consistencyWeight, 'a finite number ≥ 0 (w_max; 0 = supervised only)');
    requireFraction('rampUp', config.rampUp);
    if (typeof config.ensembleMomentum !== 'number' || !(config.ensembleMomentum >= 0 && config.ensembleMomentum < 1)) {
      invalidConfig('ensembleMomentum', config.ensembleMomentum, 'a number in [0, 1) (α; the paper uses 0.6)');
    }
    requireDropout('dropout', config.dropout);
  },
  // The supervised-only ablation: same networks, labels and steps, the unlabeled term off.
  supervisedControl: (config) => ({ ...config, consistencyWeight: 0 }),
  views: (config) => ({
    labeled: 'weak',
    unlabeled: config.consistencyWeight === 0 ? NO_UNLABELED_VIEWS : 'weak',
  }),
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime<TemporalEnsemblingCarry> {
    const { config, sampleCount } = context;
    const numClasses = requireClasses('semisup:temporal-ensembling', context.numClasses);
    const student = createClassifierNetwork(context, numClasses, config.dropout);
    const momentum = config.ensembleMomentum;
    // Z [sampleCount, K] and the visits n [sampleCount] of each sample id; checkpoints save both.
    // (In a tidy: the variables keep the zeros' data, the zeros tensors themselves are freed.)
    const ensemble = tf.tidy(() => tf.variable(tf.zeros([sampleCount, numClasses]), false)) as tf.Variable<tf.Rank.R2>;
    const visits = tf.tidy(() => tf.variable(tf.zeros([sampleCount]), false)) as tf.Variable<tf.Rank.R1>;
    return {
      ...studentRuntimeParts(context, student, () => createClassifierNetwork(context, numClasses, config.dropout)),
      state: { ensemble, visits },
      step(batch, stepContext) {
        if (config.consistencyWeight === 0) return supervisedStep(student, batch.labeled);
        const labels = batch.labeled.labels;
        const [view] = batch.unlabeled.views;
        if (!view) throw new SslError('shape-mismatch', 'semisup:temporal-ensembling expects one view of the unlabeled batch.');
        const [labeledLogits, unlabeledLogits] = forwardTogether(student, [batch.labeled.views[0], view], true);
        const probabilities = tf.softmax(unlabeledLogits);
        const ids = tf.tensor1d(batch.unlabeled.indices, 'int32');
        const { targets, mask } = ensembleTargets(ensemble, visits, ids, momentum);
        // w(t) · 1/(C|B|) Σ_i mask_i ‖z_i − z̃_i‖² (Algorithm 2): masked rows are zero on both sides.
        const rowMask = tf.expandDims(mask, 1);
        const consistencyLoss = consistencyMse(tf.mul(probabilities, rowMask) as Tensor2D, tf.mul(targets, rowMask) as Tensor2D);
        const weight = config.consistencyWeight * sigmoidRampUp(stepContext.progress, config.rampUp);
        const supervisedLoss = hardLabelCrossEntropy(labeledLogits, labels);
        const loss = tf.add(supervisedLoss, tf.mul(weight, consistencyLoss)) as Scalar;
        return {
          loss,
          metrics: {
            supervisedLoss,
            consistencyLoss,
            consistencyWeight: tf.scalar(weight),
            targetRate: tf.mean(mask) as Scalar,
            supervisedAccuracy: accuracy(labeledLogits, labels),
          },
          carry: { ids, probabilities: stopGradient(probabilities) },
        };
      },
      afterStep(_batch, _stepContext, carry) {
        if (!carry) return;
        // Z_i ← αZ_i + (1 − α)z_i for this step's samples (ids are distinct within an unlabeled batch), as
        // Z_i + (1 − α)(z_i − Z_i) so one scatter of the change does it; n_i ← n_i + 1.
        const rows = tf.expandDims(carry.ids, 1) as tf.Tensor2D;
        const change = tf.mul(1 - momentum, tf.sub(carry.probabilities, tf.gather(ensemble, carry.ids)));
        ensemble.assign(tf.add(ensemble, tf.scatterND(rows, change, [sampleCount, numClasses])));
        visits.assign(tf.add(visits, tf.scatterND(rows, tf.onesLike(carry.ids).toFloat(), [sampleCount])));
      },
    };
  },
});
