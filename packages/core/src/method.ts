import type { Scalar, Tensor1D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { Encoder } from './nn/encoder';
import type { Random } from './random';

/**
 * The method contract. A method declares its parts (defaults, validation, views, networks, loss, step);
 * core's trainer supplies the loop, the optimizer, checkpoints and callbacks. The contract is designed
 * against every family at once:
 * - two or more views per image, of different sizes (SimCLR; multi-crop DINO/SwAV): `views` names a policy;
 * - momentum teachers with stop-gradient (BYOL, MoCo, DINO, Mean Teacher): `frozen` networks updated in
 *   `afterStep` with `emaUpdate`, never passed to the optimizer;
 * - persistent state (MoCo queue, DINO center, SwAV prototypes, temporal ensembles): `state` variables,
 *   saved and restored by checkpoints;
 * - masked inputs and a throw-away decoder (MAE): the decoder is a trainable network that is not the
 *   `encoder` that gets evaluated and saved;
 * - labeled + unlabeled batches with a ratio (FixMatch mu=7): `data: 'semi-supervised'` and `unlabeledRatio`;
 * - a pretext label derived from the input (rotation, jigsaw): the step derives it; `views` may be 'none';
 * - two encoders for two modalities (CLIP): `data: 'image-text'`, a second (text) network in `trainable`;
 * - multi-round procedures (Noisy Student, self-training): `rounds` and `beginRound`.
 */

/** What the method's steps consume; core builds batches of this kind. */
export type MethodDataKind = 'unlabeled' | 'semi-supervised' | 'image-text' | 'labeled';

/** A view policy referenced by name (see core's augment module), with optional overrides of its parameters. */
export type ViewPolicyRef = string | { readonly name: string; readonly overrides?: Readonly<Record<string, unknown>> };

export interface MethodViews {
  /** Views of the unlabeled (or only) images. */
  readonly unlabeled?: ViewPolicyRef;
  /** Views of the labeled images in semi-supervised and labeled methods. */
  readonly labeled?: ViewPolicyRef;
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
}

export type OptimizerSpec =
  | { readonly kind: 'sgd'; readonly lr: number; readonly momentum?: number; readonly nesterov?: boolean; readonly weightDecay?: number }
  | { readonly kind: 'adam'; readonly lr: number; readonly beta1?: number; readonly beta2?: number; readonly epsilon?: number; readonly weightDecay?: number }
  | { readonly kind: 'adamw'; readonly lr: number; readonly beta1?: number; readonly beta2?: number; readonly epsilon?: number; readonly weightDecay?: number }
  | { readonly kind: 'lars'; readonly lr: number; readonly momentum?: number; readonly weightDecay?: number; readonly trustCoefficient?: number };

export type ScheduleSpec =
  | { readonly kind: 'constant' }
  | { readonly kind: 'warmup-cosine'; readonly warmupFraction?: number; readonly warmupSteps?: number; readonly finalLrFraction?: number }
  | { readonly kind: 'step'; readonly milestones: readonly number[] /* fractions of training */; readonly gamma: number };

export interface StepContext {
  /** Global step, 0-based, counted across epochs. */
  readonly step: number;
  readonly epoch: number;
  readonly totalSteps: number;
  /** step / totalSteps, in [0, 1): drives momentum and temperature schedules. */
  readonly progress: number;
  /** Generator for the method's own randomness (masking, pretext permutations); checkpointed by the trainer. */
  readonly rng: Random;
  /** The learning rate applied at this step. */
  readonly lr: number;
}

export interface ImageViews {
  /** The un-augmented images, float32 in [0, 1], NHWC. */
  readonly images: Tensor4D;
  /** The views produced by the method's policy (empty for policy 'none'). */
  readonly views: Tensor4D[];
}

export interface UnlabeledBatch extends ImageViews {
  readonly kind: 'unlabeled';
}

export interface LabeledBatch extends ImageViews {
  readonly kind: 'labeled';
  readonly labels: Tensor1D;
}

export interface SemiSupervisedBatch {
  readonly kind: 'semi-supervised';
  readonly labeled: ImageViews & { readonly labels: Tensor1D };
  readonly unlabeled: ImageViews;
}

export interface ImageTextBatch extends ImageViews {
  readonly kind: 'image-text';
  readonly captions: readonly string[];
  /** Class labels when the pairs carry them (used only for monitoring). */
  readonly labels?: Tensor1D;
}

export type Batch = UnlabeledBatch | LabeledBatch | SemiSupervisedBatch | ImageTextBatch;
interface BatchByKind {
  readonly unlabeled: UnlabeledBatch;
  readonly labeled: LabeledBatch;
  readonly 'semi-supervised': SemiSupervisedBatch;
  readonly 'image-text': ImageTextBatch;
}
export type BatchOf<K extends MethodDataKind> = BatchByKind[K];

export interface StepOutput {
  /** The scalar the optimizer minimizes. */
  readonly loss: Scalar;
  /** Extra scalars to log (e.g. mask rate, accuracy of a pretext head). */
  readonly metrics?: Readonly<Record<string, Scalar>>;
}

export interface BuildContext<Config> {
  readonly config: Config;
  /** Shape of one input image [H, W, C]. */
  readonly inputShape: readonly [number, number, number];
  /** Number of classes when the data is labeled (semi-supervised methods need it). */
  readonly numClasses?: number;
  /** Builds a fresh encoder from the run's encoder spec (call twice for a teacher). Weights are seeded. */
  createEncoder(): Encoder;
  /** Captions of the whole training set, for methods that fit a tokenizer (CLIP). */
  readonly captions?: readonly string[];
  readonly rng: Random;
}

export interface MethodRuntime<K extends MethodDataKind = MethodDataKind> {
  /** The representation that evaluation uses and that is saved at the end of training. */
  readonly encoder: Encoder;
  /** Networks whose trainable weights the optimizer updates (encoder, heads, decoders, text encoder...). */
  readonly trainable: Readonly<Record<string, LayersModel>>;
  /** Networks updated without gradients (EMA teachers). Saved in checkpoints. */
  readonly frozen?: Readonly<Record<string, LayersModel>>;
  /** Persistent method state (queues, centers, prototypes, ensembles). Saved in checkpoints. */
  readonly state?: Readonly<Record<string, Variable>>;
  /** Loss of one batch. Runs under the gradient tape; every tensor it makes is freed by the trainer. */
  step(batch: BatchOf<K>, context: StepContext): StepOutput;
  /** After the optimizer update, outside the tape: EMA teachers, queue updates, center updates. */
  afterStep?(batch: BatchOf<K>, context: StepContext): void;
  /** Number of rounds of a multi-round procedure (Noisy Student); default 1. */
  readonly rounds?: number;
  /** Called before each round after the first: e.g. make the student the next teacher. */
  beginRound?(round: number): void;
  /** Frees anything the runtime created outside its networks and state. */
  dispose?(): void;
}

export interface MethodDefinition<Config extends object = object, K extends MethodDataKind = MethodDataKind> {
  /** Method name within its plugin, e.g. 'simclr'; registered as '<family>:<name>'. */
  readonly name: string;
  readonly description: string;
  readonly paper?: PaperReference;
  readonly data: K;
  /** Unlabeled images per labeled image in a semi-supervised batch (FixMatch's mu). */
  unlabeledRatio?(config: Config): number;
  readonly defaults: Config;
  /** Throws SslError('invalid-config') naming the field; runs before any work. */
  validate?(config: Config): void;
  /** The augmentation policies, as data. */
  views(config: Config): MethodViews;
  build(context: BuildContext<Config>): MethodRuntime<K>;
  readonly training?: TrainingDefaults;
}

/** Identity function that gives a method definition its types. */
export function defineMethod<Config extends object, K extends MethodDataKind>(
  definition: MethodDefinition<Config, K>,
): MethodDefinition<Config, K> {
  return Object.freeze(definition);
}
