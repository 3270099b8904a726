import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, accuracy, defineMethod, hardLabelCrossEntropy, invalidConfig, stopGradient } from '@ssl/core';
import type { Encoder, LoadedRun, MethodRuntime, StepOutput, tfl } from '@ssl/core';
import { distributionAlignment } from '../losses/distribution-alignment';
import { fixMatchLoss } from '../losses/fixmatch';
import {
  NO_LABELED_NOISE,
  encoderLearningRateScales,
  labeledClassMarginal,
  movingAverage,
  thresholdedUnlabeledLoss,
  validateEncoderLearningRateScale,
  validateLabeledNoise,
  validatePseudoLabels,
  validateStrongView,
  weakStrongViews,
} from '../shared/weak-strong-runtime';
import type { EncoderLearningRateSettings, LabeledNoiseSettings, StrongViewSettings } from '../shared/weak-strong-runtime';
import { classifierLogits, copyOfNetwork, createClassifierNetwork, reportedClassifier } from '../shared/classifier-network';
import { fixMatchEmaDecay } from '../shared/ema-model';

export { fixMatchEmaDecay } from '../shared/ema-model';

/**
 * FixMatch (Sohn et al. 2020): a weakly augmented unlabeled image gives a pseudo-label when the model is
 * confident (max softmax ≥ τ); the strongly augmented version of the same image is trained to predict it.
 */
export interface FixMatchConfig extends EncoderLearningRateSettings, StrongViewSettings, LabeledNoiseSettings {
  /** τ, the confidence a pseudo-label needs (paper: 0.95). Compared with ≥. */
  threshold: number;
  /** μ, unlabeled images per labeled image in a batch (paper: 7). */
  unlabeledRatio: number;
  /**
   * λu, weight of the unlabeled loss (paper: 1). 0 turns FixMatch into its supervised-only ablation: same
   * network, labeled batches, weak augmentation, optimizer and EMA, and the unlabeled images are not even
   * augmented or forwarded.
   */
  unlabeledWeight: number;
  /** Decay of the EMA model that is evaluated (paper: 0.999). */
  emaDecay: number;
  /**
   * Ramp the EMA decay as min(emaDecay, (1 + t)/(10 + t)) at step t (TensorFlow's ExponentialMovingAverage
   * with num_updates), so a short run's EMA model is not dominated by the random initialisation
   * (0.999^300 ≈ 0.74 of the initial weights after 300 steps without it). Default true.
   */
  emaWarmup: boolean;
  /**
   * Distribution alignment (ReMixMatch, Berthelot et al. 2020) of the weak-view predictions before the
   * threshold: q̃ = Normalize(q · p(y) / p̃(y)), p(y) the labeled class frequencies, p̃(y) a running mean of
   * the predictions. Default false (the paper's FixMatch).
   */
  distributionAlignment: boolean;
  /** Momentum of p̃(y) (USB's DistAlign: 0.999). */
  alignmentMomentum: number;
  /**
   * 'hard' (the paper's: the weak view's one-hot argmax is the strong view's target) or 'soft' (its sharpened
   * distribution Sharpen(q, T), under the same confidence mask: `softPseudoLabelLoss`). Default 'hard'.
   */
  pseudoLabels: 'hard' | 'soft';
  /** T of the soft pseudo-labels' sharpening [0.5]; unused with hard ones. */
  temperature: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:fixmatch': FixMatchConfig;
  }
}

/** What FixMatch's runtime carries beyond the method contract: the student and its EMA copy. */
export interface FixMatchNetworks {
  readonly student: { readonly encoder: Encoder; readonly classifier: tfl.LayersModel };
  readonly ema: { readonly encoder: Encoder; readonly classifier: tfl.LayersModel };
}

export type FixMatchRuntime = MethodRuntime<'semi-supervised', FixMatchCarry> & { readonly fixmatch: FixMatchNetworks };

function probability(field: string, value: unknown, inclusiveZero = true): void {
  if (typeof value !== 'number' || !(inclusiveZero ? value >= 0 : value > 0) || !(value <= 1)) {
    invalidConfig(field, value, `a number in ${inclusiveZero ? '[0' : '(0'}, 1]`);
  }
}

/** What a FixMatch step with distribution alignment hands to afterStep: p̃(y) updated with its batch. */
export interface FixMatchCarry {
  readonly modelMarginal: Tensor1D;
}

export const fixmatch = defineMethod<FixMatchConfig, 'semi-supervised', FixMatchCarry>({
  name: 'fixmatch',
  description: 'Confident pseudo-labels of weak views supervise strong views (FixMatch, Sohn et al. 2020).',
  paper: {
    title: 'FixMatch: Simplifying Semi-Supervised Learning with Consistency and Confidence',
    authors: 'Sohn, Berthelot, Li, Zhang, Carlini, Cubuk, Kurakin, Zhang, Raffel',
    year: 2020,
    url: 'https://arxiv.org/abs/2001.07685',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  defaults: {
    threshold: 0.95,
    unlabeledRatio: 7,
    unlabeledWeight: 1,
    emaDecay: 0.999,
    emaWarmup: true,
    augment: {},
    distributionAlignment: false,
    alignmentMomentum: 0.999,
    pseudoLabels: 'hard',
    temperature: 0.5,
    encoderLearningRateScale: 1,
    ...NO_LABELED_NOISE,
  },
  validate(config) {
    probability('threshold', config.threshold);
    validatePseudoLabels(config);
    validateEncoderLearningRateScale(config);
    if (!(Number.isInteger(config.unlabeledRatio) && config.unlabeledRatio >= 1))
      invalidConfig('unlabeledRatio', config.unlabeledRatio, 'a positive integer (μ; the paper uses 7)');
    if (typeof config.unlabeledWeight !== 'number' || !(config.unlabeledWeight >= 0) || !Number.isFinite(config.unlabeledWeight)) {
      invalidConfig('unlabeledWeight', config.unlabeledWeight, 'a finite number ≥ 0 (λu; the paper uses 1, 0 = supervised only)');
    }
    if (typeof config.emaDecay !== 'number' || !(config.emaDecay >= 0 && config.emaDecay < 1))
      invalidConfig('emaDecay', config.emaDecay, 'a number in [0, 1)');
    if (typeof config.emaWarmup !== 'boolean') invalidConfig('emaWarmup', config.emaWarmup, 'true or false');
    validateStrongView(config);
    validateLabeledNoise(config);
    if (typeof config.distributionAlignment !== 'boolean')
      invalidConfig('distributionAlignment', config.distributionAlignment, 'true or false');
    if (typeof config.alignmentMomentum !== 'number' || !(config.alignmentMomentum >= 0 && config.alignmentMomentum < 1))
      invalidConfig('alignmentMomentum', config.alignmentMomentum, 'a number in [0, 1)');
  },
  // The supervised-only ablation: same networks, labels and steps, the unlabeled term off.
  supervisedControl: (config) => ({ ...config, unlabeledWeight: 0 }),
  views: weakStrongViews,
  training: {
    // Paper: SGD, Nesterov momentum 0.9, lr 0.03, weight decay 5e-4, lr·cos(7πk/16K) decay, B = 64.
    // Core's cosine has no 7/16 factor: decaying to 20% of the base lr matches cos(7π/16) ≈ 0.195 at the end.
    optimizer: { kind: 'sgd', lr: 0.03, momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0, finalLrFraction: 0.2 },
    batchSize: 64,
    epochs: 10,
  },
  build(context): FixMatchRuntime {
    const { config, numClasses } = context;
    if (numClasses === undefined || !(numClasses >= 2)) {
      throw new SslError('data', `semisup:fixmatch needs a labeled set with at least 2 classes, got numClasses = ${numClasses}.`);
    }
    const student = createClassifierNetwork(context, numClasses, config.dropout);
    // The EMA model (paper sec. 4: "we report ... using an exponential moving average of model parameters").
    const ema = copyOfNetwork(context, student, numClasses, config.dropout);
    const { encoder, classifier } = student;
    const { encoder: emaEncoder, classifier: emaClassifier } = ema;
    const logits = (images: Tensor4D, training: boolean): Tensor2D => classifierLogits(student, images, training);
    // Distribution alignment's p̃(y) (running mean of the predictions) and p(y) (labeled class frequencies).
    const alignment = config.distributionAlignment
      ? {
          modelMarginal: tf.tidy(() => tf.variable(tf.fill([numClasses], 1 / numClasses), false)) as tf.Variable<tf.Rank.R1>,
          labelMarginal: tf.tidy(() => tf.variable(labeledClassMarginal(context, numClasses), false)) as tf.Variable<tf.Rank.R1>,
        }
      : undefined;

    return {
      // Evaluation and the saved representation use the EMA encoder: FixMatch's reported accuracy is the
      // EMA model's, and its weights are a smoothed, better-generalising copy of the student's.
      encoder: emaEncoder,
      trainable: { encoder: encoder.model, classifier },
      ...encoderLearningRateScales(config),
      frozen: { emaEncoder: emaEncoder.model, emaClassifier },
      ...(alignment ? { state: alignment } : {}),
      fixmatch: { student: { encoder, classifier }, ema: { encoder: emaEncoder, classifier: emaClassifier } },
      // The EMA classifier goes with the run's saved encoder (the EMA encoder); the student is exported too.
      // `classify(await loadRun(outDir), images)` uses them in any process.
      products: () => ({ classifier: emaClassifier, studentEncoder: encoder, studentClassifier: classifier }),
      classifier: reportedClassifier({ encoder: emaEncoder, classifier: emaClassifier }, 'EMA model'),
      step(batch): StepOutput<FixMatchCarry> {
        const labeledImages = batch.labeled.views[0];
        const labels = batch.labeled.labels;
        const labeledCount = labeledImages.shape[0];
        const supervisedOnly = config.unlabeledWeight === 0;
        let labeledLogits: Tensor2D;
        let weakLogits: Tensor2D | undefined;
        let strongLogits: Tensor2D | undefined;
        if (supervisedOnly) {
          labeledLogits = logits(labeledImages, true);
        } else {
          const [weak, strong] = batch.unlabeled.views;
          if (!weak || !strong)
            throw new SslError(
              'shape-mismatch',
              'semisup:fixmatch expects [weak, strong] views of the unlabeled batch (policy weakStrong).',
            );
          // One forward pass over labeled + weak + strong, so batch norm sees the statistics of all three
          // (the reference code concatenates them, "interleave" in fixmatch.py).
          const unlabeledCount = weak.shape[0];
          const all = logits(tf.concat([labeledImages, weak, strong], 0), true);
          labeledLogits = tf.slice(all, [0, 0], [labeledCount, -1]);
          weakLogits = tf.slice(all, [labeledCount, 0], [unlabeledCount, -1]);
          strongLogits = tf.slice(all, [labeledCount + unlabeledCount, 0], [unlabeledCount, -1]);
        }
        // ℓ_s: cross-entropy of the labeled weak views (paper eq. 2).
        const supervisedLoss = hardLabelCrossEntropy(labeledLogits, labels);
        const supervisedAccuracy = accuracy(labeledLogits, labels);
        if (supervisedOnly || !weakLogits || !strongLogits) {
          return { loss: supervisedLoss, metrics: { supervisedLoss, supervisedAccuracy } };
        }
        if (alignment || config.pseudoLabels === 'soft') {
          // Distribution alignment: p̃(y) includes this batch (as USB's DistAlign hook), assigned in afterStep. Then
          // the same ℓ_u with every class threshold τ, on the aligned distribution and/or with soft targets.
          let weakProbabilities = stopGradient(tf.softmax(weakLogits)) as Tensor2D;
          let modelMarginal: Tensor1D | undefined;
          if (alignment) {
            modelMarginal = movingAverage(alignment.modelMarginal, tf.mean(weakProbabilities, 0) as Tensor1D, config.alignmentMomentum);
            weakProbabilities = distributionAlignment(weakProbabilities, modelMarginal, alignment.labelMarginal);
          }
          const classThresholds = tf.fill([numClasses], config.threshold) as Tensor1D;
          const unlabeled = thresholdedUnlabeledLoss(config, { weakProbabilities, logitsStrong: strongLogits, classThresholds });
          const loss = tf.add(supervisedLoss, tf.mul(config.unlabeledWeight, unlabeled.loss)) as Scalar;
          const maskRate = tf.mean(unlabeled.mask) as Scalar;
          return {
            loss,
            metrics: { supervisedLoss, unlabeledLoss: unlabeled.loss, maskRate, supervisedAccuracy },
            ...(modelMarginal ? { carry: { modelMarginal } } : {}),
          };
        }
        // ℓ_u (eq. 4): pseudo-label from the weak view, without gradient, mean over all μB samples.
        const unlabeled = fixMatchLoss({ logitsWeak: weakLogits, logitsStrong: strongLogits, threshold: config.threshold });
        const maskRate = tf.mean(unlabeled.mask) as Scalar;
        // Total loss ℓ_s + λu ℓ_u (eq. 5).
        const loss = tf.add(supervisedLoss, tf.mul(config.unlabeledWeight, unlabeled.loss)) as Scalar;
        return { loss, metrics: { supervisedLoss, unlabeledLoss: unlabeled.loss, maskRate, supervisedAccuracy } };
      },
      afterStep(_batch, _context, carry) {
        if (alignment && carry) alignment.modelMarginal.assign(carry.modelMarginal);
      },
      momentumPairs: {
        pairs: [
          { target: emaEncoder.model, source: encoder.model },
          { target: emaClassifier, source: classifier },
        ],
        momentum: ({ step }) => fixMatchEmaDecay(config.emaDecay, step, config.emaWarmup),
      },
    };
  },
});

function isLoadedRun(source: MethodRuntime | LoadedRun): source is LoadedRun {
  return typeof (source as LoadedRun).network === 'function' && typeof (source as LoadedRun).dir === 'string';
}

/** The encoder and classifier of a FixMatch run's EMA model or student, trained in this process or loaded. */
function modelOf(source: MethodRuntime | LoadedRun, model: 'ema' | 'student'): { encoder: Encoder; classifier: tfl.LayersModel } {
  if (isLoadedRun(source)) {
    if (source.method !== 'semisup:fixmatch')
      throw new SslError('io', `classify() needs a semisup:fixmatch run; ${source.dir} is a ${source.method} run.`);
    if (model === 'student') return { encoder: source.encoderProduct('studentEncoder'), classifier: source.network('studentClassifier') };
    if (!source.encoder) throw new SslError('io', `${source.dir} has no saved encoder (encoder/model.json) for the EMA classifier.`);
    return { encoder: source.encoder, classifier: source.network('classifier') };
  }
  const networks = (source as Partial<FixMatchRuntime>).fixmatch;
  if (!networks)
    throw new SslError(
      'invalid-config',
      'classify() needs the runtime of a semisup:fixmatch run (train(...).runtime) or a loaded run (loadRun(outDir)).',
    );
  return model === 'student' ? networks.student : networks.ema;
}

export interface ClassifyOptions {
  /** 'ema' (default, the model FixMatch reports) or 'student' (the network the optimizer trains). */
  model?: 'ema' | 'student';
  /** Images per forward pass; default 256. */
  batchSize?: number;
}

/**
 * Class predictions [N] (int32) of a FixMatch run's EMA model (or its student) for float32 [0, 1] images
 * [N, H, W, C], in inference mode (batch norm uses its moving statistics). The run is `train(...).runtime`
 * or, in any later process, `await loadRun(outDir)`.
 */
export function classify(source: MethodRuntime | LoadedRun, images: Tensor4D, options: ClassifyOptions = {}): Tensor1D {
  const { encoder, classifier } = modelOf(source, options.model ?? 'ema');
  const batchSize = options.batchSize ?? 256;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) invalidConfig('batchSize', batchSize, 'a positive integer');
  return tf.tidy(() => {
    const parts: Tensor1D[] = [];
    for (let start = 0; start < images.shape[0]; start += batchSize) {
      const size = Math.min(batchSize, images.shape[0] - start);
      const chunk = tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1]);
      parts.push(tf.argMax(classifier.apply(encoder.features(chunk, { training: false })) as Tensor2D, 1) as Tensor1D);
    }
    return (parts.length === 1 ? parts[0] : tf.concat(parts, 0)) as Tensor1D;
  });
}
