import type { Scalar, Tensor1D, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { ViewPolicy } from './augment/policies';
import type { Encoder } from './nn/encoder';
import type { EncoderPresetName } from './nn/spec';
import type { Random } from './random';
import type { ImageDataset } from './data/dataset';
import type { TextBatch } from './data/text';
import type { JsonValue } from './train/checkpoint';
import type { PoolView, Pools } from './train/pools';

/**
 * The method contract. A method declares its parts (defaults, validation, views, networks, loss, step);
 * core's trainer supplies the loop, the optimizer, checkpoints and callbacks. It is designed against every
 * family of the lectures at once:
 * - two or more views per image, of different sizes (SimCLR; multi-crop DINO/SwAV): `views` returns a
 *   policy by name or as an object (a plugin brings its own recipes, see `definePlugin({ viewPolicies })`);
 * - momentum teachers with stop-gradient (BYOL, MoCo, DINO, Mean Teacher): `frozen` networks updated in
 *   `afterStep` with `emaUpdate`, never passed to the optimizer;
 * - persistent state (MoCo queue, DINO center, SwAV prototypes): `state` variables, saved by checkpoints,
 *   updated in `afterStep` from what `step` computed (`carry`), with no second forward pass;
 * - per-sample state (temporal ensembling's [N, K] targets, a memory bank): `state` variables indexed by
 *   the sample ids every batch carries (`indices`); `BuildContext.sampleCount` sizes them;
 * - masked inputs and a throw-away decoder (MAE): the decoder is a trainable network that is not the
 *   `encoder` that gets evaluated and saved;
 * - labeled + unlabeled batches with a ratio (FixMatch mu=7): `data: 'semi-supervised'` and `unlabeledRatio`;
 * - a pretext label derived from the input (rotation, jigsaw): the step derives it;
 * - two encoders for two modalities (CLIP): `data: 'image-text'`, a second (text) network in `trainable`;
 * - multi-round procedures (self-training, Noisy Student, stacked autoencoders): `rounds`; each round is
 *   `build` again with the previous round's runtime (a teacher), a fresh optimizer and schedule, and the
 *   method's `endRound` may change the labeled and unlabeled pools (pseudo-labeled samples, co-training).
 */

/**
 * What a method's steps consume, by name. Core defines five kinds; a plugin adds its own by augmenting
 * this interface and registering a `DataKindDefinition` (see `definePlugin({ dataKinds })`).
 */
export interface DataKinds {
  unlabeled: UnlabeledBatch;
  labeled: LabeledBatch;
  'semi-supervised': SemiSupervisedBatch;
  'image-text': ImageTextBatch;
  /** Texts as token-id rows (word2vec, masked:mlm); listed here, not by augmentation, so published typings carry it. */
  text: TextBatch;
}

export type MethodDataKind = keyof DataKinds & string;
export type BatchOf<K extends MethodDataKind> = DataKinds[K];
export type Batch = DataKinds[MethodDataKind];

/** A view policy referenced by name (core's or a registered plugin's), with optional overrides of its options. */
export type ViewPolicyRef = string | { readonly name: string; readonly overrides?: Readonly<Record<string, unknown>> };

export interface MethodViews {
  /** Views of the unlabeled (or only) images: a policy name, a reference with overrides, or the policy itself. */
  readonly unlabeled?: ViewPolicyRef | ViewPolicy;
  /** Views of the labeled images in semi-supervised and labeled methods. */
  readonly labeled?: ViewPolicyRef | ViewPolicy;
}

export interface PaperReference {
  readonly title: string;
  readonly authors: string;
  readonly year: number;
  readonly url: string;
}

/** Training defaults the paper recommends, scaled to the small demo setting; users override any of them. */
export interface TrainingDefaults {
  readonly optimizer?: OptimizerSpec;
  readonly schedule?: ScheduleSpec;
  readonly batchSize?: number;
  readonly epochs?: number;
  /** The encoder used when none is given (train() without `encoder`, `ssl` without `--encoder`); default the small CNN. */
  readonly encoder?: EncoderPresetName;
  /** Max global gradient norm the method's paper recommends (DINO: 3); train()'s `gradientClip` overrides it. */
  readonly gradientClip?: number;
}

export type OptimizerSpec =
  | { readonly kind: 'sgd'; readonly lr: number; readonly momentum?: number; readonly nesterov?: boolean; readonly weightDecay?: number }
  | {
      readonly kind: 'adam';
      readonly lr: number;
      readonly beta1?: number;
      readonly beta2?: number;
      readonly epsilon?: number;
      readonly weightDecay?: number;
    }
  | {
      readonly kind: 'adamw';
      readonly lr: number;
      readonly beta1?: number;
      readonly beta2?: number;
      readonly epsilon?: number;
      readonly weightDecay?: number;
    }
  | {
      readonly kind: 'lars';
      readonly lr: number;
      readonly momentum?: number;
      readonly weightDecay?: number;
      readonly trustCoefficient?: number;
    };

export type ScheduleSpec =
  | { readonly kind: 'constant' }
  | { readonly kind: 'warmup-cosine'; readonly warmupFraction?: number; readonly warmupSteps?: number; readonly finalLrFraction?: number }
  | { readonly kind: 'step'; readonly milestones: readonly number[] /* fractions of training */; readonly gamma: number };

export interface StepContext {
  /** Global step, 0-based, counted across epochs and rounds. */
  readonly step: number;
  readonly epoch: number;
  /** 0-based round of a multi-round method (0 for all others). */
  readonly round: number;
  /** Steps of this round (of the run, for a one-round method). */
  readonly totalSteps: number;
  /** Position in this round in [0, 1): drives momentum and temperature schedules, which restart each round. */
  readonly progress: number;
  /** Generator for the method's own randomness (masking, pretext permutations); checkpointed by the trainer. */
  readonly rng: Random;
  /** The learning rate applied at this step. */
  readonly lr: number;
}

export interface ImageViews {
  /** The un-augmented images, float32 in [0, 1], NHWC. */
  readonly images: Tensor4D;
  /** The views produced by the method's policy (empty for a policy with no views); sizes may differ per view. */
  readonly views: Tensor4D[];
  /** Sample id of each image (see `BuildContext.sampleCount`): the row of per-sample state it owns. */
  readonly indices: Int32Array;
}

export interface UnlabeledBatch extends ImageViews {
  readonly kind: 'unlabeled';
}

export interface LabeledBatch extends ImageViews {
  readonly kind: 'labeled';
  readonly labels: Tensor1D;
}

export interface LabeledImageViews extends ImageViews {
  /** Labels of the labeled pool: given labels, or pseudo-labels a round added. */
  readonly labels: Tensor1D;
  /** Per-sample weights of the labeled pool (confidence-weighted self-training); absent means all 1. */
  readonly weights?: Tensor1D;
}

export interface SemiSupervisedBatch {
  readonly kind: 'semi-supervised';
  readonly labeled: LabeledImageViews;
  readonly unlabeled: ImageViews;
}

export interface ImageTextBatch extends ImageViews {
  readonly kind: 'image-text';
  readonly captions: readonly string[];
  /** Class labels when the pairs carry them (used only for monitoring). */
  readonly labels?: Tensor1D;
}

export interface StepOutput<Carry = unknown> {
  /** The scalar the optimizer minimizes. */
  readonly loss: Scalar;
  /** Extra scalars to log (e.g. mask rate, accuracy of a pretext head). */
  readonly metrics?: Readonly<Record<string, Scalar>>;
  /**
   * What `afterStep` needs from this step's forward pass (MoCo's keys, DINO's teacher outputs, a batch's
   * predictions for temporal ensembling). Tensors in it are kept past the tape, handed to `afterStep`, and
   * freed by the trainer after it; gradients never flow through them.
   */
  readonly carry?: Carry;
}

/** Core's data kinds whose batches are images: a source of one of them always has an image shape. */
export type ImageDataKind = 'unlabeled' | 'labeled' | 'semi-supervised' | 'image-text';

/** Fields of the run's encoder spec to change for one network, and the config field that holds them. */
export interface EncoderChanges {
  /** Spec fields to replace (`withEncoderOptions`'s options), e.g. { channels: [16, 32, 64] }; {} changes nothing. */
  readonly options: object;
  /** The method's config field, e.g. 'studentEncoder': errors then name 'studentEncoder.channels'. */
  readonly field: string;
}

/**
 * What `build` gets. `K` is the method's data kind: for core's image kinds (the default) `inputShape` is always
 * there; for other kinds (a text corpus, modality pairs, a plugin's own) it may be undefined.
 */
export interface BuildContext<Config, K extends MethodDataKind = ImageDataKind> {
  readonly config: Config;
  /** Shape of one input image [H, W, C]; undefined when the data has no images (a text corpus, audio–text pairs). */
  readonly inputShape: K extends ImageDataKind ? readonly [number, number, number] : readonly [number, number, number] | undefined;
  /** Number of classes when the data is labeled (semi-supervised methods need it). */
  readonly numClasses?: number;
  /**
   * Builds a fresh encoder from the run's encoder spec (call twice for a teacher). Weights are seeded. Throws
   * SslError('data') for data without images when train() was given no `encoder`. With `changes`, the run's spec
   * with those fields replaced (`withEncoderOptions`): a wider or narrower network of the same family, such as a
   * distillation student. Such an encoder starts from fresh weights: the run's `initialEncoder` fits its spec only.
   */
  createEncoder(changes?: EncoderChanges): Encoder;
  /**
   * The training data's texts, where it has them, for methods that fit a tokenizer: the captions of image–text pairs,
   * a text corpus, the string samples of modality pairs (both sides' together: a pair method with two text sides
   * fits both tokenizers on them). Undefined for data without texts.
   */
  readonly captions?: readonly string[];
  readonly rng: Random;
  /** Number of sample ids: rows of per-sample state. Semi-supervised: labeled ids first, then unlabeled. */
  readonly sampleCount: number;
  /** 0-based round being built. */
  readonly round: number;
  /** The previous round's runtime, trained (a teacher for this round); absent in round 0. */
  readonly previous?: MethodRuntime;
  /** The pools this round trains on (read-only here; `endRound` changes them). */
  readonly pools: PoolView;
}

/** What `endRound` sees: the pools to change for the next round, and the images behind sample ids. */
export interface RoundEndContext {
  readonly round: number;
  readonly pools: Pools;
  /** Float32 [0, 1] images of these sample ids (the caller disposes them). */
  images(ids: Int32Array): Tensor4D;
  readonly rng: Random;
}

/**
 * Networks the trainer moves towards others after every optimizer update, target ← m·target + (1 − m)·source
 * (BYOL's target, MoCo's key encoder, DINO's and Mean Teacher's teacher, FixMatch's EMA model).
 */
export interface MomentumPairs {
  readonly pairs: ReadonlyArray<{ readonly target: LayersModel; readonly source: LayersModel }>;
  /** The momentum m at a step (a schedule such as cosineMomentum of context.progress). */
  momentum(context: StepContext): number;
}

/**
 * Something a trained method hands to its users besides the encoder: a network (a tfjs `LayersModel`, or an
 * `Encoder`, which keeps its spec and reloads as an Encoder) or a JSON artifact (`{ json }`: a tokenizer's
 * vocabulary, class names, a logit scale).
 */
export type Product = LayersModel | Encoder | { readonly json: JsonValue };

/**
 * The products of a run by name (`classifier`, `textEncoder`, `tokenizer`...). `train()` saves each one when
 * the run ends under `<outDir>/products/` (networks in the tfjs LayersModel format, artifacts as JSON) next
 * to `<outDir>/encoder/`; `loadRun(outDir)` brings them back in any process. Names are identifiers
 * (letters, digits, `_`, `-`); a method documents what each one is.
 */
export type MethodProducts = Readonly<Record<string, Product>>;

/**
 * The classifier a method trains besides its encoder (a semi-supervised classifier, CLIP's zero-shot head
 * over prompts made from class names). Evaluation reports its top-1 next to the encoder's probes, against
 * its `control`, so a user sees the figure the method's paper reports.
 */
export interface MethodClassifier {
  /** What the figure is, for tables: 'classifier top-1 (EMA model)', 'zero-shot top-1 (prompts from class names)'. */
  readonly description: string;
  /**
   * What the figure is compared with: 'supervised-only' (the method's `supervisedControl` config trained
   * on the same labels and steps) or 'chance' (1 / classes, for a classifier that saw no labels).
   */
  readonly control: 'supervised-only' | 'chance';
  /**
   * Class probabilities [N, classes] of float32 [0, 1] images [N, H, W, C] in inference mode. `classNames`
   * are the evaluation set's, in label order (a zero-shot classifier writes its prompts from them).
   */
  probabilities(images: Tensor4D, classNames: readonly string[]): Tensor2D;
}

/**
 * One figure of a method's own task on held-out data, beside the uninformed predictor it must beat: chance for
 * a classification pretext task, the best context-free guess for a reconstruction.
 */
export interface HeldOutFigure {
  /** What was measured, e.g. 'rotation accuracy (4 rotations)', 'masked-patch MSE'. */
  readonly name: string;
  /**
   * 'accuracy': a fraction in [0, 1], higher is better; 'error': a loss, lower is better; 'score': any other figure
   * where higher is better (a signal-to-noise ratio), in `unit`.
   */
  readonly kind: 'accuracy' | 'error' | 'score';
  readonly value: number;
  /** The unit of a 'score', e.g. 'dB'. */
  readonly unit?: string;
  /** The uninformed predictor's figure, e.g. { name: 'chance', value: 0.25 }. */
  readonly reference: { readonly name: string; readonly value: number };
}

export interface MethodRuntime<K extends MethodDataKind = MethodDataKind, Carry = unknown> {
  /** The representation that evaluation uses and that is saved at the end of training. */
  readonly encoder: Encoder;
  /** Networks whose trainable weights the optimizer updates (encoder, heads, decoders, text encoder...). */
  readonly trainable: Readonly<Record<string, LayersModel>>;
  /** Networks updated without gradients (EMA teachers, a previous round's model). Saved in checkpoints. */
  readonly frozen?: Readonly<Record<string, LayersModel>>;
  /** Persistent method state (queues, centers, prototypes, per-sample ensembles). Saved in checkpoints. */
  readonly state?: Readonly<Record<string, Variable>>;
  /**
   * Learning-rate multipliers per trainable network (default 1): a pretrained backbone fine-tuned more
   * gently than its new head. A weight shared by two networks takes the first one's.
   */
  readonly learningRateScales?: Readonly<Record<string, number>>;
  /** What the run exports besides `encoder` (see MethodProducts); called once, when training ends. */
  products?(): MethodProducts;
  /** The method's own classifier, when it trains one; evaluation reports its top-1 (see MethodClassifier). */
  readonly classifier?: MethodClassifier;
  /**
   * The method's own task scored on data the run did not train on — a pretext head's accuracy, a reconstruction
   * error, image–sound correspondence — so a run shows the task was learned, not only that the encoder moved.
   * `heldOut` is held-out data in the form the method trains on: an ImageDataset for 'unlabeled' methods (the
   * test split, labels kept), `{ images, audio }` for 'image-audio'. Inference mode; frees what it makes.
   */
  heldOutTask?(heldOut: unknown, options: { seed: number }): Promise<readonly HeldOutFigure[]>;
  /** Momentum (EMA) networks the trainer updates after each optimizer step, before afterStep. */
  readonly momentumPairs?: MomentumPairs;
  /** Loss of one batch. Runs under the gradient tape; every tensor it makes is freed by the trainer. */
  step(batch: BatchOf<K>, context: StepContext): StepOutput<Carry>;
  /**
   * After the optimizer update, outside the tape: EMA teachers, queue and center updates. `carry` is what
   * this step's `step` returned as `carry`. Runs in a tidy scope.
   */
  afterStep?(batch: BatchOf<K>, context: StepContext, carry?: Carry): void;
  /**
   * After the last step of a round (every round but the last): change the pools the next round trains on,
   * e.g. add pseudo-labeled samples. Runs once; its result is checkpointed, so a resumed run never reruns it.
   */
  endRound?(context: RoundEndContext): void;
  /** Frees anything the runtime created outside its networks and state. */
  dispose?(): void;
}

/**
 * What a method's encoder sees when it is not the training images themselves: colorization's encoder sees only
 * the lightness of colour images. The runner sizes the encoder with `channels` and evaluates it (and its
 * random-init control) on `dataset` of the evaluation images, so the encoder is never fed what it never saw.
 */
export interface EncoderInput {
  /** In words, for reports, e.g. 'the lightness L* of the images'. */
  readonly description: string;
  /** The encoder's input channels for training images of `imageChannels` channels. */
  channels(imageChannels: number): number;
  /** Images (labels kept) as the encoder sees them. */
  dataset<D extends ImageDataset>(dataset: D): D;
}

export interface MethodDefinition<Config extends object = object, K extends MethodDataKind = MethodDataKind, Carry = unknown> {
  /** Method name within its plugin, e.g. 'simclr'; registered as '<family>:<name>'. */
  readonly name: string;
  readonly description: string;
  readonly paper?: PaperReference;
  readonly data: K;
  /** Unlabeled images per labeled image in a semi-supervised batch (FixMatch's mu); 0: labeled batches only. */
  unlabeledRatio?(config: Config): number;
  /** Rounds of a multi-round procedure (self-training, Noisy Student); default 1. Each round runs the run's epochs. */
  rounds?(config: Config): number;
  readonly defaults: Config;
  /**
   * The config of this method's supervised-only ablation (its unlabeled weight at 0: same networks, labels,
   * steps and schedule). Evaluation trains it as the control of the method's classifier (`ssl semisup`).
   */
  supervisedControl?(config: Config): Config;
  /** Set when the encoder sees something derived from the images (default: the images as they are). */
  readonly encoderInput?: EncoderInput;
  /** Throws SslError('invalid-config') naming the field; runs before any work. */
  validate?(config: Config): void;
  /** The augmentation policies, as data. */
  views(config: Config): MethodViews;
  build(context: BuildContext<Config, K>): MethodRuntime<K, Carry>;
  readonly training?: TrainingDefaults;
}

/** Identity function that gives a method definition its types (Carry: what its step hands to afterStep). */
export function defineMethod<Config extends object, K extends MethodDataKind, Carry = unknown>(
  definition: MethodDefinition<Config, K, Carry>,
): MethodDefinition<Config, K, Carry> {
  return Object.freeze(definition);
}

/** The shape of what a method's encoder takes, for training images of `imageShape` (see `EncoderInput`). */
export function encoderInputShape(
  definition: Pick<MethodDefinition, 'encoderInput'>,
  imageShape: readonly [number, number, number],
): [number, number, number] {
  const [height, width, channels] = imageShape;
  return [height, width, definition.encoderInput?.channels(channels) ?? channels];
}

/** Images as a method's encoder sees them (see `EncoderInput`); the images themselves for most methods. */
export function encoderView<D extends ImageDataset>(definition: Pick<MethodDefinition, 'encoderInput'>, dataset: D): D {
  return definition.encoderInput ? definition.encoderInput.dataset(dataset) : dataset;
}
