import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, accuracy, copyWeights, forwardViews, hardLabelCrossEntropy, linearClassifier } from '@ssl/core';
import type {
  BuildContext,
  Encoder,
  EncoderChanges,
  LabeledImageViews,
  MethodClassifier,
  MethodRuntime,
  StepOutput,
  ViewPolicyRef,
  tfl,
} from '@ssl/core';

/** An encoder and the linear classifier on its features: the network every method here trains. */
export interface ClassifierNetwork {
  readonly encoder: Encoder;
  readonly classifier: tfl.LayersModel;
}

/**
 * The classifier networks of a semi-supervised run: the student the optimizer trains and, for methods that
 * keep one, its EMA copy (Mean Teacher's teacher), which is the model they report.
 */
export interface SemisupNetworks {
  readonly student: ClassifierNetwork;
  readonly ema?: ClassifierNetwork;
  /**
   * The reported model's probabilities [N, K] in inference mode, `batchSize` images at a time, when it is
   * not one network on whole images (co-training's two learners, each on its half, combined).
   */
  readonly predict?: (images: Tensor4D, batchSize: number) => Tensor2D;
}

/** A runtime of this package's methods: the contract plus its classifier networks, for `classify`. */
export type SemisupRuntime<Carry = unknown> = MethodRuntime<'semi-supervised', Carry> & { readonly semisup: SemisupNetworks };

/** The class count of a labeled pool, or a `data` error naming the method. */
export function requireClasses(methodId: string, numClasses: number | undefined): number {
  if (numClasses === undefined || !(numClasses >= 2)) {
    throw new SslError('data', `${methodId} needs a labeled set with at least 2 classes, got numClasses = ${numClasses}.`);
  }
  return numClasses;
}

/**
 * A fresh encoder (the run's spec, or with `changes` a wider or narrower one) and a seeded linear classifier with
 * `dropout` on its input features.
 */
export function createClassifierNetwork<Config>(
  context: BuildContext<Config>,
  numClasses: number,
  dropout = 0,
  changes?: EncoderChanges,
): ClassifierNetwork {
  const encoder = context.createEncoder(changes);
  const classifier = linearClassifier({ inputDim: encoder.featureDim, numClasses, dropout, seed: context.rng.seed() });
  return { encoder, classifier };
}

/** A second network of the same shape holding a copy of `source`'s weights (an EMA teacher's start). */
export function copyOfNetwork<Config>(
  context: BuildContext<Config>,
  source: ClassifierNetwork,
  numClasses: number,
  dropout = 0,
): ClassifierNetwork {
  const copy = createClassifierNetwork(context, numClasses, dropout);
  copyWeights(copy.encoder.model, source.encoder.model);
  copyWeights(copy.classifier, source.classifier);
  return copy;
}

/** Class logits; `training` switches batch-norm statistics and dropout (model noise) on. */
export function classifierLogits(network: ClassifierNetwork, images: Tensor4D, training: boolean): Tensor2D {
  return network.classifier.apply(network.encoder.features(images, { training }), { training }) as Tensor2D;
}

/** Softmax probabilities [N, K] of a network in inference mode over `images`, `batchSize` at a time. */
export function predictProbabilities(network: ClassifierNetwork, images: Tensor4D, batchSize = 256): Tensor2D {
  return tf.tidy(() => {
    const parts: Tensor2D[] = [];
    for (let start = 0; start < images.shape[0]; start += batchSize) {
      const size = Math.min(batchSize, images.shape[0] - start);
      parts.push(tf.softmax(classifierLogits(network, tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1]), false)));
    }
    return (parts.length === 1 ? parts[0] : tf.concat(parts, 0)) as Tensor2D;
  });
}

/**
 * The runtime's `classifier`: the network a semi-supervised method reports, which evaluation scores against
 * the method's supervised-only ablation (its `supervisedControl`) trained on the same labels and steps.
 */
export function reportedClassifier(network: ClassifierNetwork, model: 'student' | 'EMA model' | 'teacher'): MethodClassifier {
  return {
    description: `classifier top-1 (${model})`,
    control: 'supervised-only',
    probabilities: (images) => predictProbabilities(network, images),
  };
}

/**
 * Logits of several image batches (labeled views, unlabeled views) from one forward pass over their
 * concatenation, so batch norm sees the statistics of all of them (FixMatch's and Mean Teacher's code).
 */
export function forwardTogether(network: ClassifierNetwork, batches: readonly Tensor4D[], training: boolean): Tensor2D[] {
  return forwardViews((images) => classifierLogits(network, images, training), batches, 'concatenated');
}

/**
 * The step of a supervised-only ablation (a method with its unlabeled weight at 0): cross-entropy of the
 * labeled batch's first view; the unlabeled images are not forwarded.
 */
export function supervisedStep(network: ClassifierNetwork, labeled: LabeledImageViews): StepOutput<never> {
  const [logits] = forwardTogether(network, [labeled.views[0]], true);
  const supervisedLoss = hardLabelCrossEntropy(logits, labeled.labels, labeled.weights);
  return { loss: supervisedLoss, metrics: { supervisedLoss, supervisedAccuracy: accuracy(logits, labeled.labels) } };
}

/**
 * The unlabeled views of a supervised-only ablation (a method with its unlabeled weight at 0): none, so
 * the unlabeled images are neither augmented nor forwarded.
 */
export const NO_UNLABELED_VIEWS: ViewPolicyRef = { name: 'none', overrides: { count: 0 } };
