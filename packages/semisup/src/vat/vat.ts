import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, accuracy, defineMethod, hardLabelCrossEntropy, invalidConfig, stopGradient } from '@ssl/core';
import { entropyLoss } from '../losses/entropy';
import { klDivergence, virtualAdversarialPerturbation } from '../losses/virtual-adversarial';
import {
  NO_UNLABELED_VIEWS,
  classifierLogits,
  createClassifierNetwork,
  forwardTogether,
  requireClasses,
  supervisedStep,
} from '../shared/classifier-network';
import type { SemisupRuntime } from '../shared/classifier-network';
import { STUDENT_EMA_DEFAULTS, studentRuntimeParts, validateEma } from '../shared/ema-model';
import type { EmaSettings } from '../shared/ema-model';
import { SEMISUP_TRAINING } from '../shared/training';
import { requireNonNegativeNumber, requirePositiveInteger } from '../shared/validate';

/**
 * Virtual adversarial training (Miyato et al. 2018): the prediction on each unlabeled image must not change
 * under the small perturbation that changes it most (found by one power iteration), a local smoothness
 * penalty (LDS) that needs no label; with `entropyWeight` > 0, VAT+EntMin (their sec. 4.1.2).
 */
export interface VatConfig extends EmaSettings {
  /** Unlabeled images per labeled image. */
  unlabeledRatio: number;
  /** α, weight of the LDS term; 0 (with entropyWeight 0) is the supervised-only ablation. */
  vatWeight: number;
  /** ε, the L2 norm of the perturbation per image, in pixel units of [0, 1] images (the paper tunes it per data set). */
  epsilon: number;
  /**
   * ξ, the finite-difference step of the power iteration. The paper's 1e-6 is lost in float32 rounding here
   * (the perturbation block's test: no better than a random direction), so the default is 1e-3.
   */
  xi: number;
  /** Power iterations (paper: 1). */
  powerIterations: number;
  /** Weight of the entropy of the unlabeled predictions (VAT+EntMin: 1; 0 = plain VAT). */
  entropyWeight: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:vat': VatConfig;
  }
}

export const vat = defineMethod<VatConfig, 'semi-supervised'>({
  name: 'vat',
  description: 'Predictions must resist the virtual adversarial perturbation of each unlabeled image (VAT, Miyato et al. 2018).',
  paper: {
    title: 'Virtual Adversarial Training: A Regularization Method for Supervised and Semi-Supervised Learning',
    authors: 'Miyato, Maeda, Koyama, Ishii',
    year: 2018,
    url: 'https://arxiv.org/abs/1704.03976',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  defaults: {
    ...STUDENT_EMA_DEFAULTS,
    unlabeledRatio: 3,
    vatWeight: 1,
    epsilon: 2,
    xi: 1e-3,
    powerIterations: 1,
    entropyWeight: 0,
  },
  validate(config) {
    validateEma(config);
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio);
    requireNonNegativeNumber('vatWeight', config.vatWeight, 'a finite number ≥ 0 (α; 0 with entropyWeight 0 = supervised only)');
    if (typeof config.epsilon !== 'number' || !(config.epsilon > 0) || !Number.isFinite(config.epsilon))
      invalidConfig('epsilon', config.epsilon, 'a finite number > 0 (the perturbation norm)');
    if (typeof config.xi !== 'number' || !(config.xi > 0) || !Number.isFinite(config.xi))
      invalidConfig('xi', config.xi, 'a finite number > 0 (the finite-difference step)');
    requirePositiveInteger('powerIterations', config.powerIterations, 'a positive integer (the paper uses 1)');
    requireNonNegativeNumber('entropyWeight', config.entropyWeight, 'a finite number ≥ 0 (VAT+EntMin: 1)');
  },
  // The supervised-only ablation: same networks, labels and steps, the unlabeled term off.
  supervisedControl: (config) => ({ ...config, vatWeight: 0, entropyWeight: 0 }),
  views: (config) => ({
    labeled: 'weak',
    unlabeled: config.vatWeight === 0 && config.entropyWeight === 0 ? NO_UNLABELED_VIEWS : 'weak',
  }),
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime {
    const { config } = context;
    const numClasses = requireClasses('semisup:vat', context.numClasses);
    const student = createClassifierNetwork(context, numClasses);
    return {
      ...studentRuntimeParts(context, student, () => createClassifierNetwork(context, numClasses)),
      step(batch, stepContext) {
        if (config.vatWeight === 0 && config.entropyWeight === 0) return supervisedStep(student, batch.labeled);
        const labels = batch.labeled.labels;
        const [view] = batch.unlabeled.views;
        if (!view) throw new SslError('shape-mismatch', 'semisup:vat expects one view of the unlabeled batch.');
        const [labeledLogits, unlabeledLogits] = forwardTogether(student, [batch.labeled.views[0], view], true);
        const forward = (images: Tensor4D): Tensor2D => classifierLogits(student, images, true);
        // p(y | x, θ̂): the current prediction, a constant target (eq. 5).
        const target = stopGradient(tf.softmax(unlabeledLogits)) as Tensor2D;
        const noise = tf.randomNormal(view.shape, 0, 1, 'float32', stepContext.rng.seed()) as Tensor4D;
        const perturbation = virtualAdversarialPerturbation(forward, view, target, {
          xi: config.xi,
          epsilon: config.epsilon,
          iterations: config.powerIterations,
          noise,
        });
        // LDS(x, θ) = D(p(y | x, θ̂), p(y | x + r_vadv, θ)) (eq. 5); the objective ℓ_s + α · mean LDS (eq. 9).
        const vatLoss = klDivergence(target, forward(tf.add(view, perturbation) as Tensor4D));
        const supervisedLoss = hardLabelCrossEntropy(labeledLogits, labels);
        let loss = tf.add(supervisedLoss, tf.mul(config.vatWeight, vatLoss)) as Scalar;
        const metrics: Record<string, Scalar> = { supervisedLoss, vatLoss, supervisedAccuracy: accuracy(labeledLogits, labels) };
        if (config.entropyWeight > 0) {
          // VAT+EntMin: + the conditional entropy of the unlabeled predictions (sec. 4.1.2).
          const entropy = entropyLoss(unlabeledLogits);
          loss = tf.add(loss, tf.mul(config.entropyWeight, entropy)) as Scalar;
          metrics.entropy = entropy;
        }
        return { loss, metrics };
      },
    };
  },
});
