import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import {
  BATCH_NORM_EPSILON,
  BATCH_NORM_MOMENTUM,
  SslError,
  accuracy,
  checkPolicyOptions,
  copyWeights,
  defineMethod,
  fastBatchNormalization,
  hardLabelCrossEntropy,
  invalidConfig,
  l2Normalize,
  linearClassifier,
  noGradient,
  projectionHead,
  requirePositive,
  requirePositiveInteger,
  stopGradient,
  tfl,
  weakOps,
} from '@ssl/core';
import type {
  BuildContext,
  Encoder,
  EncoderChanges,
  MethodClassifier,
  MethodRuntime,
  SemiSupervisedBatch,
  StepContext,
  StepOutput,
  ViewPolicy,
} from '@ssl/core';
import { simclrViewSpec, simclrViews } from '../views/simclr-views';
import type { SimclrViewOptions } from '../views/simclr-views';
import { ntXentLoss } from '../losses/nt-xent';
import { distillationLoss } from '../losses/distillation';
import { SIMCLR_FASHION_VIEWS } from '../simclr/simclr';

/**
 * SimCLRv2 (Chen et al. 2020b, "Big Self-Supervised Models are Strong Semi-Supervised Learners"): three
 * stages, each a round of one run on a labeled + unlabeled split.
 * 1. pretrain: SimCLR on the unlabeled images with a deeper projection head g (3 layers, batch norm, and
 *    batch norm on the output as the authors' code);
 * 2. fine-tune: a linear classifier on the output of g's first layer (Linear → BN → ReLU), trained with the
 *    encoder and that layer on the labeled images ("fine-tuning from the middle layer of the projection head");
 * 3. distill: a student of the same architecture (or, with `studentEncoder`, a smaller one) learns the fine-tuned
 *    teacher's temperature-scaled softmax on the unlabeled images (eq. 2, `distillationLoss`), plus the labeled
 *    cross-entropy.
 */
export type SimCLRv2Stage = 'pretrain' | 'fine-tune' | 'distill';

export const SIMCLRV2_STAGES: readonly SimCLRv2Stage[] = ['pretrain', 'fine-tune', 'distill'];

export interface SimCLRv2Config {
  /**
   * The stages to run, one round each, in the paper's order: all three by default; `['fine-tune']` is the
   * supervised-only control (the same network trained on the labels alone); `['pretrain', 'fine-tune']` stops
   * at the teacher; `['fine-tune', 'distill']` distils a supervised-only teacher.
   */
  stages: SimCLRv2Stage[];
  /** Unlabeled images per labeled image in a step (the run's batchSize counts labeled images). */
  unlabeledRatio: number;
  /** NT-Xent temperature τ of pretraining (paper: 0.1 at batch 4096; 0.2 here as SimCLR). */
  temperature: number;
  /** Width of g's hidden layers, the layer the classifier is fine-tuned from. */
  projectionHiddenDim: number;
  /** Output width of g (the loss space). */
  projectionDim: number;
  /**
   * Learning-rate multiplier of the whole fine-tuning stage: the run's rate suits pretraining, and training on
   * the labels wants more (4 × Adam's 2e-3 was the best rate of supervised-only training on the sample).
   */
  fineTuneLrScale: number;
  /** Learning-rate multiplier of the distillation stage. */
  distillLrScale: number;
  /**
   * Learning-rate multiplier of the pretrained encoder and g's first layer while fine-tuning (the classifier
   * takes the run's rate): a pretrained network is adjusted, not overwritten. Ignored without pretraining.
   */
  fineTuneBackboneLrScale: number;
  /**
   * Fraction of the fine-tuning round that trains the classifier alone on frozen features before the whole
   * network (a linear probe first, then fine-tuning: random classifier gradients do not reach the pretrained
   * layers). 0 fine-tunes everything from the first step. Ignored without pretraining.
   */
  linearProbeFraction: number;
  /** τ of both softmaxes of the distillation loss (paper: 1). */
  distillTemperature: number;
  /** Weight of the labeled cross-entropy added to the distillation loss (0: unlabeled distillation only). */
  distillLabeledWeight: number;
  /** The student's start: 'random' (fresh weights, as self-distillation in the paper) or 'teacher' (a copy). */
  studentInit: 'random' | 'teacher';
  /**
   * The student's encoder: the run's spec with these fields changed, e.g. { channels: [16, 32, 64] } under a
   * 32-64-128 teacher — the paper's distillation of a big teacher into a smaller student. {} (default) distils into
   * the teacher's own architecture. A changed student starts from fresh weights (`studentInit: 'random'`), and the
   * supervised-only control (`stages: ['fine-tune']`) trains this network, the one the run ends with.
   */
  studentEncoder: Readonly<Record<string, unknown>>;
  /** Overrides of the `simclr` view policy for the two pretraining views. */
  views: SimclrViewOptions;
  /**
   * Translation (fraction of the side, reflect padding) of the flip + translate view that fine-tuning sees
   * for the labeled images and distillation for the unlabeled ones (the paper: crop + flip).
   */
  translateFraction: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'contrastive:simclrv2': SimCLRv2Config;
  }
}

/** The classifier network of the fine-tuning and distillation stages: encoder → g's first layer → linear. */
export interface SimCLRv2Network {
  readonly encoder: Encoder;
  /** Linear → BN → ReLU, g's first layer (the pretrained one, or a fresh one of the same shape). */
  readonly hidden: tfl.LayersModel;
  readonly classifier: tfl.LayersModel;
}

/** A simclrv2 runtime: the contract plus the networks of its stage, for `simclrv2Logits` and the next round. */
export type SimCLRv2Runtime = MethodRuntime<'semi-supervised'> & {
  readonly simclrv2: {
    readonly stage: SimCLRv2Stage;
    /** Pretraining's projection head (stage 'pretrain'). */
    readonly projector?: tfl.LayersModel;
    /** The classifier being trained: the teacher in 'fine-tune', the student in 'distill'. */
    readonly network?: SimCLRv2Network;
    /** The fine-tuned teacher (stage 'distill'). */
    readonly teacher?: SimCLRv2Network;
  };
};

function checkStages(stages: unknown): void {
  const expected = "a non-empty list of 'pretrain', 'fine-tune', 'distill' in that order, with 'fine-tune' before 'distill'";
  if (!Array.isArray(stages) || stages.length === 0) invalidConfig('stages', stages, expected);
  let last = -1;
  for (const stage of stages as unknown[]) {
    const position = SIMCLRV2_STAGES.indexOf(stage as SimCLRv2Stage);
    if (position <= last) invalidConfig('stages', stages, expected);
    last = position;
  }
  if (stages.includes('distill') && !stages.includes('fine-tune')) invalidConfig('stages', stages, expected);
}

function checkFraction(field: string, value: unknown, inclusiveOne: boolean): void {
  if (!(typeof value === 'number' && value >= 0 && (inclusiveOne ? value <= 1 : value < 1)))
    invalidConfig(field, value, inclusiveOne ? 'a number in [0, 1]' : 'a number in [0, 1)');
}

/** The views every stage draws from: two SimCLR views (pretraining) and one flip + translate view (distillation). */
function unlabeledViews(config: SimCLRv2Config): ViewPolicy {
  return {
    name: 'simclrv2',
    views: [
      simclrViewSpec('view-1', config.views),
      simclrViewSpec('view-2', config.views),
      { name: 'weak', ops: weakOps({ translateFraction: config.translateFraction }) },
    ],
  };
}

/** A fresh g's first layer: Linear (no bias, as before a BN) → BN → ReLU, with seeded weights. */
function hiddenLayer(inputDim: number, hiddenDim: number, seed: number): tfl.LayersModel {
  const input = tfl.input({ shape: [inputDim] });
  const linear = tfl.layers.dense({ units: hiddenDim, useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed }) });
  const normalised = fastBatchNormalization({ momentum: BATCH_NORM_MOMENTUM, epsilon: BATCH_NORM_EPSILON }).apply(linear.apply(input));
  return tfl.model({ inputs: input, outputs: tfl.layers.reLU().apply(normalised) as tfl.SymbolicTensor });
}

/**
 * A copy of the first layer of a pretrained g (Linear → BN → ReLU, weights and batch-norm statistics) as a
 * model of its own: the layer SimCLRv2 fine-tunes from. A copy rather than a view of g's layers, so that g
 * (with its unused deeper layers) is freed whole when pretraining hands over.
 */
export function projectionHeadFirstLayer(projector: tfl.LayersModel, seed = 0): tfl.LayersModel {
  const [linear, batchNorm] = projector.layers.filter((layer) => layer.weights.length > 0);
  if (!linear || linear.weights.length !== 1 || !batchNorm || batchNorm.weights.length !== 4) {
    throw new SslError(
      'invalid-config',
      'projectionHeadFirstLayer needs a head that starts with Linear (no bias) → batch norm, as projectionHead({ batchNorm: true }).',
    );
  }
  const inputDim = linear.weights[0].shape[0] as number;
  const hiddenDim = linear.weights[0].shape[1] as number;
  const copy = hiddenLayer(inputDim, hiddenDim, seed);
  const [copyLinear, copyBatchNorm] = copy.layers.filter((layer) => layer.weights.length > 0);
  copyLinear.setWeights(linear.getWeights());
  copyBatchNorm.setWeights(batchNorm.getWeights());
  return copy;
}

/** Logits of a classifier network; `training` switches batch-norm statistics on. */
function networkLogits(network: SimCLRv2Network, images: Tensor4D, training: boolean): Tensor2D {
  const features = network.encoder.features(images, { training });
  return network.classifier.apply(network.hidden.apply(features, { training }), { training }) as Tensor2D;
}

/** features → logits as one model (hidden layer then classifier, shared weights): the run's `classifier` product. */
function headModel(network: SimCLRv2Network): tfl.LayersModel {
  const input = tfl.input({ shape: [network.encoder.featureDim] });
  const logits = network.classifier.apply(network.hidden.apply(input)) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits });
}

/** The network as the classifier evaluation reports (`ssl semisup`), beside the supervised-only control. */
function reportedClassifier(network: SimCLRv2Network, description: string): MethodClassifier {
  return {
    description,
    control: 'supervised-only',
    probabilities: (images) => tf.tidy(() => tf.softmax(networkLogits(network, images, false))),
  };
}

/** The student's encoder changes (`studentEncoder`), for the core's `createEncoder`. */
function studentChanges(config: SimCLRv2Config): EncoderChanges {
  return { options: config.studentEncoder, field: 'studentEncoder' };
}

/** A classifier network with fresh weights: the run's encoder, or with `changes` the student's. */
function freshNetwork(context: BuildContext<SimCLRv2Config>, numClasses: number, changes?: EncoderChanges): SimCLRv2Network {
  const encoder = context.createEncoder(changes);
  const hidden = hiddenLayer(encoder.featureDim, context.config.projectionHiddenDim, context.rng.seed());
  const classifier = linearClassifier({ inputDim: context.config.projectionHiddenDim, numClasses, seed: context.rng.seed() });
  return { encoder, hidden, classifier };
}

function stateOf(previous: MethodRuntime | undefined): SimCLRv2Runtime['simclrv2'] | undefined {
  return (previous as SimCLRv2Runtime | undefined)?.simclrv2;
}

function pretrainRuntime(context: BuildContext<SimCLRv2Config>): SimCLRv2Runtime {
  const { config } = context;
  const encoder = context.createEncoder();
  const projector = projectionHead({
    inputDim: encoder.featureDim,
    hiddenDim: config.projectionHiddenDim,
    outputDim: config.projectionDim,
    layers: 3,
    batchNorm: true,
    lastBatchNorm: true,
    seed: context.rng.seed(),
  });
  return {
    encoder,
    trainable: { encoder: encoder.model, projector },
    simclrv2: { stage: 'pretrain', projector },
    step(batch: SemiSupervisedBatch): StepOutput {
      const [view1, view2] = batch.unlabeled.views;
      // Both views in one forward pass, so batch norm sees the 2N images together (as SimCLR).
      const projections = projector.apply(encoder.features(tf.concat([view1, view2], 0), { training: true }), {
        training: true,
      }) as Tensor2D;
      const size = view1.shape[0];
      const z1 = tf.slice(projections, [0, 0], [size, -1]) as Tensor2D;
      const z2 = tf.slice(projections, [size, 0], [size, -1]) as Tensor2D;
      const loss = ntXentLoss(z1, z2, { temperature: config.temperature });
      const positiveCosine = tf.mean(tf.sum(tf.mul(l2Normalize(z1), l2Normalize(z2)), 1)) as Scalar;
      return { loss, metrics: { positiveCosine } };
    },
  };
}

function fineTuneRuntime(context: BuildContext<SimCLRv2Config>, numClasses: number): SimCLRv2Runtime {
  const { config } = context;
  const pretrained = stateOf(context.previous);
  let network: SimCLRv2Network;
  if (pretrained?.projector && context.previous) {
    // Fine-tuning from g's first layer: the pretrained encoder (round 0's, kept) and a copy of that layer.
    network = {
      encoder: context.previous.encoder,
      hidden: projectionHeadFirstLayer(pretrained.projector, context.rng.seed()),
      classifier: linearClassifier({ inputDim: config.projectionHiddenDim, numClasses, seed: context.rng.seed() }),
    };
  } else {
    // Fine-tuning alone is the supervised-only control: it trains the network a full run ends with (the student).
    const isControl = config.stages.length === 1;
    network = freshNetwork(context, numClasses, isControl ? studentChanges(config) : undefined);
  }
  const backboneScale = config.fineTuneLrScale * (pretrained?.projector ? config.fineTuneBackboneLrScale : 1);
  const probeFraction = pretrained?.projector ? config.linearProbeFraction : 0;
  return {
    encoder: network.encoder,
    trainable: { encoder: network.encoder.model, hidden: network.hidden, classifier: network.classifier },
    learningRateScales: { encoder: backboneScale, hidden: backboneScale, classifier: config.fineTuneLrScale },
    simclrv2: { stage: 'fine-tune', network },
    products: () => ({ classifier: headModel(network) }),
    classifier: reportedClassifier(
      network,
      pretrained?.projector ? 'classifier top-1 (fine-tuned teacher)' : 'classifier top-1 (supervised-only)',
    ),
    step(batch: SemiSupervisedBatch, step: StepContext): StepOutput {
      const images = batch.labeled.views[0];
      const hidden = network.hidden.apply(network.encoder.features(images, { training: true }), { training: true }) as Tensor2D;
      // Linear probe first: while it lasts no gradient reaches the pretrained layers.
      const features = step.progress < probeFraction ? stopGradient(hidden) : hidden;
      const logits = network.classifier.apply(features, { training: true }) as Tensor2D;
      const loss = hardLabelCrossEntropy(logits, batch.labeled.labels, batch.labeled.weights);
      return { loss, metrics: { labeledAccuracy: accuracy(logits, batch.labeled.labels) } };
    },
  };
}

function distillRuntime(context: BuildContext<SimCLRv2Config>, numClasses: number): SimCLRv2Runtime {
  const { config } = context;
  const teacher = stateOf(context.previous)?.network;
  if (!teacher) throw new SslError('invalid-config', "simclrv2's distill stage needs the fine-tune stage before it (stages).");
  const student = freshNetwork(context, numClasses, studentChanges(config));
  if (config.studentInit === 'teacher') {
    copyWeights(student.encoder.model, teacher.encoder.model);
    copyWeights(student.hidden, teacher.hidden);
    copyWeights(student.classifier, teacher.classifier);
  }
  return {
    encoder: student.encoder,
    trainable: { encoder: student.encoder.model, hidden: student.hidden, classifier: student.classifier },
    learningRateScales: { encoder: config.distillLrScale, hidden: config.distillLrScale, classifier: config.distillLrScale },
    frozen: { teacherEncoder: teacher.encoder.model, teacherHidden: teacher.hidden, teacherClassifier: teacher.classifier },
    simclrv2: { stage: 'distill', network: student, teacher },
    classifier: reportedClassifier(student, 'classifier top-1 (distilled student)'),
    products: () => ({ classifier: headModel(student), teacherEncoder: teacher.encoder, teacherClassifier: headModel(teacher) }),
    step(batch: SemiSupervisedBatch): StepOutput {
      const unlabeled = batch.unlabeled.views[2];
      const labeled = batch.labeled.views[0];
      // The teacher in inference mode: its soft labels are targets, fixed by fine-tuning (its forward runs off
      // the tape, so none of its activations is kept for the backward).
      const teacherLogits = noGradient(() => networkLogits(teacher, unlabeled, false));
      // One student forward over unlabeled then labeled images: batch norm sees them together.
      const logits = networkLogits(student, tf.concat([unlabeled, labeled], 0), true);
      const unlabeledCount = unlabeled.shape[0];
      const studentLogits = tf.slice(logits, [0, 0], [unlabeledCount, -1]) as Tensor2D;
      const labeledLogits = tf.slice(logits, [unlabeledCount, 0], [-1, -1]) as Tensor2D;
      const distill = distillationLoss(studentLogits, teacherLogits, { temperature: config.distillTemperature });
      const labeledLoss = hardLabelCrossEntropy(labeledLogits, batch.labeled.labels, batch.labeled.weights);
      const loss = tf.add(distill, tf.mul(labeledLoss, config.distillLabeledWeight)) as Scalar;
      const agreement = tf.mean(tf.cast(tf.equal(tf.argMax(studentLogits, 1), tf.argMax(teacherLogits, 1)), 'float32')) as Scalar;
      return { loss, metrics: { distillLoss: distill, labeledLoss, teacherAgreement: agreement } };
    },
  };
}

export const simclrv2 = defineMethod<SimCLRv2Config, 'semi-supervised'>({
  name: 'simclrv2',
  description:
    'SimCLRv2: SimCLR pretraining with a 3-layer head, fine-tuning from its first layer on the labels, then distillation of the fine-tuned teacher into a student on the unlabeled images (Chen et al. 2020b).',
  paper: {
    title: 'Big Self-Supervised Models are Strong Semi-Supervised Learners',
    authors: 'Chen, Kornblith, Swersky, Norouzi, Hinton',
    year: 2020,
    url: 'https://arxiv.org/abs/2006.10029',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  rounds: (config) => config.stages.length,
  // The control of `ssl semisup`: the same network trained on the labels alone, for the same steps.
  supervisedControl: (config) => ({ ...config, stages: ['fine-tune'] }),
  defaults: {
    stages: ['pretrain', 'fine-tune', 'distill'],
    unlabeledRatio: 4,
    temperature: 0.2,
    projectionHiddenDim: 256,
    projectionDim: 64,
    fineTuneLrScale: 4,
    distillLrScale: 4,
    fineTuneBackboneLrScale: 0.1,
    linearProbeFraction: 0.2,
    distillTemperature: 1,
    distillLabeledWeight: 1,
    studentInit: 'teacher',
    studentEncoder: {},
    views: SIMCLR_FASHION_VIEWS,
    translateFraction: 0.125,
  },
  validate(config) {
    checkStages(config.stages);
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio);
    requirePositive('temperature', config.temperature);
    requirePositiveInteger('projectionHiddenDim', config.projectionHiddenDim);
    requirePositiveInteger('projectionDim', config.projectionDim);
    requirePositive('fineTuneLrScale', config.fineTuneLrScale);
    requirePositive('distillLrScale', config.distillLrScale);
    if (!(typeof config.fineTuneBackboneLrScale === 'number' && config.fineTuneBackboneLrScale >= 0))
      invalidConfig('fineTuneBackboneLrScale', config.fineTuneBackboneLrScale, 'a number >= 0');
    checkFraction('linearProbeFraction', config.linearProbeFraction, false);
    requirePositive('distillTemperature', config.distillTemperature);
    if (!(typeof config.distillLabeledWeight === 'number' && config.distillLabeledWeight >= 0))
      invalidConfig('distillLabeledWeight', config.distillLabeledWeight, 'a number >= 0');
    if (config.studentInit !== 'random' && config.studentInit !== 'teacher')
      invalidConfig('studentInit', config.studentInit, "'random' or 'teacher'");
    const { studentEncoder } = config;
    if (typeof studentEncoder !== 'object' || studentEncoder === null || Array.isArray(studentEncoder))
      invalidConfig('studentEncoder', studentEncoder, 'an object of encoder spec fields, e.g. { "channels": [16, 32, 64] }');
    if (Object.keys(studentEncoder).length > 0 && config.studentInit === 'teacher')
      invalidConfig('studentInit', config.studentInit, "'random' with studentEncoder: the teacher's weights fit its own architecture only");
    checkPolicyOptions(simclrViews, config.views, 'views');
    checkFraction('translateFraction', config.translateFraction, true);
  },
  views: (config) => ({
    unlabeled: unlabeledViews(config),
    labeled: { name: 'weak', overrides: { translateFraction: config.translateFraction } },
  }),
  // SimCLR's optimizer for every stage (each round gets a fresh one and a fresh schedule).
  training: {
    optimizer: { kind: 'adam', lr: 2e-3 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 32,
    epochs: 10,
  },
  build(context) {
    const stage = context.config.stages[context.round];
    if (stage === 'pretrain') return pretrainRuntime(context);
    const numClasses = context.numClasses;
    if (numClasses === undefined || numClasses < 2)
      throw new SslError('data', `contrastive:simclrv2 needs a labeled set with at least 2 classes, got numClasses = ${numClasses}.`);
    return stage === 'fine-tune' ? fineTuneRuntime(context, numClasses) : distillRuntime(context, numClasses);
  },
});

/**
 * Logits [N, K] of a simclrv2 run's classifier in inference mode: the network its last stage trained (the
 * student after distillation, the fine-tuned teacher otherwise), or the teacher with `network: 'teacher'`.
 * Pass `train(...).runtime`; the caller owns the result.
 */
export function simclrv2Logits(
  runtime: MethodRuntime,
  images: Tensor4D,
  options: { network?: 'trained' | 'teacher'; batchSize?: number } = {},
): Tensor2D {
  const state = stateOf(runtime);
  const network = options.network === 'teacher' ? state?.teacher : state?.network;
  if (!network) {
    throw new SslError(
      'invalid-config',
      options.network === 'teacher'
        ? 'simclrv2Logits: this run has no teacher; only a run that ends with the distill stage does.'
        : 'simclrv2Logits needs the runtime of a contrastive:simclrv2 run that ends with fine-tune or distill (train(...).runtime).',
    );
  }
  const batchSize = options.batchSize ?? 256;
  return tf.tidy(() => {
    const parts: Tensor2D[] = [];
    for (let start = 0; start < images.shape[0]; start += batchSize) {
      const size = Math.min(batchSize, images.shape[0] - start);
      parts.push(networkLogits(network, tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1]), false));
    }
    return tf.concat(parts, 0);
  });
}
