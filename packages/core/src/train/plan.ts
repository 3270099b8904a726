import { CORE_VIEW_POLICIES, createViewPolicy, findViewPolicy } from '../augment/view-policy';
import type { ViewPolicy } from '../augment/policies';
import { batchesPerEpoch } from '../data/batches';
import { requirePositiveInteger } from '../checks';
import { SslError, invalidConfig } from '../errors';
import { encoderInputShape } from '../method';
import type { MethodDefinition, MethodViews, OptimizerSpec, ScheduleSpec, ViewPolicyRef } from '../method';
import { createEncoder } from '../nn/create-encoder';
import { CORE_ENCODER_KINDS, encoderPreset, validateEncoderSpec } from '../nn/spec';
import type { Encoder } from '../nn/encoder';
import type { EncoderSpec } from '../nn/spec';
import type { EncoderDefinition, PluginParts, PluginEncoderSpecs } from '../registry/parts';
import type { MethodHandle } from '../registry/registry';
import { CORE_DATA_KINDS } from './data-kinds';
import type { BatchSource, RunViews, TrainData } from './data-kinds';
import { resolveOptimizerSpec } from './optimizers';
import { validateSchedule } from './schedules';

/** An encoder spec of core's kinds or of a kind a registered plugin brings. */
export type AnyEncoderSpec = EncoderSpec | PluginEncoderSpecs[keyof PluginEncoderSpecs];

/** Trained weights a run's image encoders start from instead of their seeded initialisation (see PlanOptions). */
export interface InitialEncoder {
  /** An encoder of the run's architecture, e.g. `(await loadRun(dir)).encoder` of a self-supervised run. */
  readonly encoder: Encoder;
  /** Where the weights come from (a run directory), recorded in config.json as `initialEncoder`. */
  readonly from: string;
}

/** Everything a run is, resolved from train()'s options and the method's defaults before any work. */
export interface RunPlan {
  readonly method: MethodHandle;
  readonly definition: MethodDefinition;
  readonly seed: number;
  /** Images per step (semi-supervised: labeled images per step). */
  readonly batchSize: number;
  readonly unlabeledRatio: number;
  /** Images of the epoch pool per step. */
  readonly epochBatchSize: number;
  readonly dropLast: boolean;
  /** Epochs of each round. */
  readonly epochs: number;
  readonly rounds: number;
  readonly maxSteps?: number;
  readonly optimizer: OptimizerSpec;
  readonly schedule: ScheduleSpec;
  readonly gradientClip?: number;
  /** The image encoder's spec: given, or sized from the data's images; undefined for data without images when none was given. */
  readonly encoder?: AnyEncoderSpec;
  readonly initialEncoder?: InitialEncoder;
  readonly views: RunViews;
  readonly source: BatchSource;
}

/** The options of train() that the plan reads (TrainOptions extends them). */
export interface PlanOptions {
  readonly method: MethodHandle;
  readonly data: TrainData;
  /**
   * Backbone; default: the method's recommended encoder, else the small CNN for the data's image shape. Data without
   * images (a text corpus, audio–text pairs) has no default: a method that asks for an image encoder needs this.
   */
  readonly encoder?: AnyEncoderSpec;
  /**
   * Start every image encoder the method builds — its encoder and the copies it makes of it (an EMA model, a
   * teacher) — from these weights instead of the seed's initialisation: fine-tuning a pretrained encoder. Heads
   * keep their seeded initialisation, so a run and its control from the same start differ only in what they
   * train. The weights are copied when the networks are built, before step 0; a resumed run's checkpoint then
   * replaces them with the trained ones. An encoder of another architecture is refused ('shape-mismatch').
   */
  readonly initialEncoder?: InitialEncoder;
  /** Epochs of each round. */
  readonly epochs?: number;
  /** Stop after this many global steps (counted from 0, across resumes and rounds). */
  readonly maxSteps?: number;
  /** Images per step (for semi-supervised methods: labeled images per step; unlabeled = ratio × this). */
  readonly batchSize?: number;
  /** Overrides the method's recommended optimizer; `{ lr }` alone keeps its kind and other settings. */
  readonly optimizer?: Partial<OptimizerSpec>;
  readonly schedule?: ScheduleSpec;
  /** Max global gradient norm; default the method's recommendation, else off. */
  readonly gradientClip?: number;
  readonly seed?: number;
  readonly dropLast?: boolean;
  readonly checkpointEvery?: { readonly steps?: number; readonly epochs?: number };
}

function partsOf(method: MethodHandle): PluginParts {
  // Handles made by hand (tests, older callers) carry no parts: core's own are always there.
  return method.parts ?? { viewPolicies: CORE_VIEW_POLICIES, dataKinds: CORE_DATA_KINDS, encoders: {} };
}

function resolvePolicy(parts: PluginParts, ref: ViewPolicyRef | ViewPolicy | undefined): ViewPolicy {
  if (ref === undefined) return createViewPolicy(findViewPolicy('none'));
  if (typeof ref === 'object' && 'views' in ref) return ref;
  const name = typeof ref === 'string' ? ref : ref.name;
  return createViewPolicy(findViewPolicy(name, parts.viewPolicies), typeof ref === 'string' ? {} : (ref.overrides ?? {}));
}

function resolveViews(parts: PluginParts, views: MethodViews): RunViews {
  return { unlabeled: resolvePolicy(parts, views.unlabeled), labeled: resolvePolicy(parts, views.labeled) };
}

function resolveOptimizer(definition: MethodDefinition, override: Partial<OptimizerSpec> | undefined): OptimizerSpec {
  const recommended = definition.training?.optimizer ?? ({ kind: 'adamw', lr: 1e-3, weightDecay: 0.05 } as OptimizerSpec);
  if (!override) return recommended;
  if (override.kind === undefined || override.kind === recommended.kind) return { ...recommended, ...override } as OptimizerSpec;
  if (override.lr === undefined)
    invalidConfig('optimizer.lr', override.lr, `a learning rate when switching the optimizer to ${override.kind}`);
  return override as OptimizerSpec;
}

function openSource(method: MethodHandle, data: TrainData): BatchSource {
  const kind = partsOf(method).dataKinds[method.definition.data];
  if (!kind)
    throw new SslError('data', `${method.id} consumes data of kind "${method.definition.data}", which no registered plugin defines.`);
  return kind.open(data, method.id);
}

/** The plugin encoder for a spec's kind, or undefined for core's kinds. */
function pluginEncoder(method: MethodHandle, spec: AnyEncoderSpec): EncoderDefinition | undefined {
  if (CORE_ENCODER_KINDS.has(spec.kind)) return undefined;
  const definition = partsOf(method).encoders[spec.kind];
  if (!definition) {
    const known = [...CORE_ENCODER_KINDS, ...Object.keys(partsOf(method).encoders)];
    invalidConfig('encoder.kind', spec.kind, `one of ${known.join(', ')} (a plugin's encoder needs that plugin registered)`);
  }
  return definition;
}

/** Checks an encoder spec of any registered kind. */
export function validateAnyEncoderSpec(method: MethodHandle, spec: AnyEncoderSpec): void {
  const definition = pluginEncoder(method, spec);
  if (definition) definition.validate?.(spec);
  else validateEncoderSpec(spec as EncoderSpec);
}

/** Builds an encoder of any registered kind. */
export function buildEncoder(method: MethodHandle, spec: AnyEncoderSpec): Encoder {
  const definition = pluginEncoder(method, spec);
  return definition ? definition.create(spec) : createEncoder(spec as EncoderSpec);
}

/** An encoder that sees something derived from the images (colorization: lightness) must take its channels. */
function checkEncoderInput(method: MethodHandle, spec: AnyEncoderSpec, imageShape: readonly [number, number, number]): void {
  const { encoderInput } = method.definition as MethodDefinition;
  const specShape = (spec as { inputShape?: readonly number[] }).inputShape;
  if (!encoderInput || specShape === undefined) return;
  const channels = encoderInput.channels(imageShape[2]);
  if (specShape[2] !== channels) {
    throw new SslError(
      'invalid-config',
      `${method.id}'s encoder sees ${encoderInput.description}: give it ${channels} input channel(s) (encoder.inputShape [${specShape.join(', ')}]).`,
      { details: { field: 'encoder.inputShape', value: [...specShape] } },
    );
  }
}

function checkOptions(options: PlanOptions): void {
  requirePositiveInteger('batchSize', options.batchSize);
  requirePositiveInteger('epochs', options.epochs);
  requirePositiveInteger('maxSteps', options.maxSteps);
  requirePositiveInteger('checkpointEvery.steps', options.checkpointEvery?.steps);
  requirePositiveInteger('checkpointEvery.epochs', options.checkpointEvery?.epochs);
  if (options.seed !== undefined && !Number.isInteger(options.seed)) invalidConfig('seed', options.seed, 'an integer');
  if (options.gradientClip !== undefined && !(Number.isFinite(options.gradientClip) && options.gradientClip > 0)) {
    invalidConfig('gradientClip', options.gradientClip, 'a finite number > 0');
  }
}

function methodCounts(definition: MethodDefinition, config: object): { ratio: number; rounds: number } {
  const ratio = definition.data === 'semi-supervised' ? (definition.unlabeledRatio?.(config) ?? 1) : 1;
  const rounds = definition.rounds?.(config) ?? 1;
  if (!(Number.isInteger(rounds) && rounds >= 1)) invalidConfig('rounds', rounds, 'a positive integer');
  if (!(Number.isInteger(ratio) && ratio >= 1)) invalidConfig('unlabeledRatio', ratio, 'a positive integer');
  return { ratio, rounds };
}

/** Resolves and checks a run's options; throws before any network is built or file written. */
export function planRun(options: PlanOptions): RunPlan {
  checkOptions(options);
  const { method } = options;
  const definition = method.definition as MethodDefinition;
  const source = openSource(method, options.data);
  const { ratio, rounds } = methodCounts(definition, method.config);
  const batchSize = options.batchSize ?? definition.training?.batchSize ?? 256;
  const epochBatchSize = definition.data === 'semi-supervised' ? batchSize * ratio : batchSize;
  const dropLast = options.dropLast ?? true;
  const epochPoolSize = source.initialPools[source.epochPool]?.ids.length ?? 0;
  if (batchesPerEpoch(epochPoolSize, epochBatchSize, dropLast) === 0) {
    throw new SslError(
      'data',
      `Dataset ${source.name} has ${epochPoolSize} images, fewer than one batch of ${epochBatchSize}: lower batchSize.`,
      {
        details: { field: 'batchSize', value: epochBatchSize },
      },
    );
  }
  const schedule = options.schedule ?? definition.training?.schedule ?? { kind: 'warmup-cosine', warmupFraction: 0.1 };
  validateSchedule(schedule);
  const imageShape = source.inputShape;
  const encoder =
    options.encoder ??
    (imageShape ? encoderPreset(definition.training?.encoder ?? 'cnn', encoderInputShape(definition, imageShape)) : undefined);
  if (encoder) validateAnyEncoderSpec(method, encoder);
  if (encoder && imageShape) checkEncoderInput(method, encoder, imageShape);
  if (options.initialEncoder && !encoder) {
    throw new SslError(
      'invalid-config',
      `initialEncoder (${options.initialEncoder.from}) needs an image encoder, but ${method.id} builds none here.`,
    );
  }
  return {
    method,
    definition,
    seed: options.seed ?? 0,
    batchSize,
    unlabeledRatio: ratio,
    epochBatchSize,
    dropLast,
    epochs: options.epochs ?? definition.training?.epochs ?? 10,
    rounds,
    maxSteps: options.maxSteps,
    optimizer: resolveOptimizerSpec(resolveOptimizer(definition, options.optimizer)),
    schedule,
    gradientClip: options.gradientClip ?? definition.training?.gradientClip,
    ...(encoder ? { encoder } : {}),
    ...(options.initialEncoder ? { initialEncoder: options.initialEncoder } : {}),
    views: resolveViews(partsOf(method), definition.views(method.config)),
    source,
  };
}
