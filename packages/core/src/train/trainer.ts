import { appendFileSync, mkdirSync, readFileSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { applyViews, viewPolicy } from '../augment';
import type { ViewPolicy } from '../augment';
import { batchesPerEpoch, epochOrder, gatherBatch } from '../data';
import type { ImageDataset, ImageTextDataset } from '../data';
import { SslError, invalidConfig } from '../errors';
import type { Batch, BuildContext, ImageViews, MethodRuntime, OptimizerSpec, ScheduleSpec, StepContext, ViewPolicyRef } from '../method';
import { createEncoder, saveEncoder } from '../nn';
import type { Encoder, EncoderSpec } from '../nn';
import type { MethodHandle } from '../registry/registry';
import { Random } from '../random';
import { latestCheckpoint, restoreVariables, saveCheckpoint } from './checkpoint';
import type { JsonValue } from './checkpoint';
import { variableGrads } from './gradients';
import { clipByGlobalNorm, createOptimizer, resolveOptimizerSpec } from './optimizers';
import { learningRateAt, validateSchedule } from './schedules';
import { streamRandom, withSeededMathRandom } from './seeded';

/** Data for a run: images; labeled + unlabeled images; or image-caption pairs. */
export type TrainData = ImageDataset | ImageTextDataset | { readonly labeled: ImageDataset; readonly unlabeled: ImageDataset };

export interface StepRecord {
  readonly step: number;
  readonly epoch: number;
  readonly loss: number;
  readonly lr: number;
  readonly metrics: Readonly<Record<string, number>>;
  /** Seconds the step took, batch preparation included. */
  readonly seconds: number;
  /** Images processed per second in this step (unlabeled + labeled). */
  readonly imagesPerSecond: number;
}

export interface EpochContext {
  readonly epoch: number;
  readonly step: number;
  readonly encoder: Encoder;
  /** Adds metrics to this epoch's record in metrics.jsonl and to the run's history. */
  log(metrics: Record<string, number>): void;
}

export interface TrainStartInfo {
  readonly methodId: string;
  readonly totalSteps: number;
  readonly startStep: number;
  readonly stepsPerEpoch: number;
  readonly epochs: number;
}

export interface TrainCallback {
  readonly name: string;
  onTrainStart?(info: TrainStartInfo): void | Promise<void>;
  onStepEnd?(record: StepRecord): void | Promise<void>;
  onEpochEnd?(context: EpochContext): void | Promise<void>;
  onTrainEnd?(result: TrainResult): void | Promise<void>;
}

export interface TrainOptions {
  readonly method: MethodHandle;
  readonly data: TrainData;
  /** Backbone; default: the small CNN for the data's image shape. */
  readonly encoder?: EncoderSpec;
  readonly epochs?: number;
  /** Stop after this many global steps (counted from 0, across resumes). */
  readonly maxSteps?: number;
  /** Images per step (for semi-supervised methods: labeled images per step; unlabeled = ratio × this). */
  readonly batchSize?: number;
  /** Overrides the method's recommended optimizer; `{ lr }` alone keeps its kind and other settings. */
  readonly optimizer?: Partial<OptimizerSpec>;
  readonly schedule?: ScheduleSpec;
  /** Max global gradient norm; off by default. */
  readonly gradientClip?: number;
  readonly seed?: number;
  /** Run directory: config.json, metrics.jsonl, checkpoints/, encoder/. Without it nothing is written. */
  readonly outDir?: string;
  readonly checkpointEvery?: { readonly steps?: number; readonly epochs?: number };
  readonly keepCheckpoints?: number;
  /** Continue from the newest complete checkpoint in outDir/checkpoints (fresh start when there is none). */
  readonly resume?: boolean;
  readonly callbacks?: readonly TrainCallback[];
  /** Stops after the current step, writing a checkpoint first when outDir is set. */
  readonly signal?: AbortSignal;
  readonly dropLast?: boolean;
}

export interface TrainResult {
  readonly methodId: string;
  readonly encoder: Encoder;
  readonly runtime: MethodRuntime;
  readonly history: StepRecord[];
  readonly epochLogs: Array<{ epoch: number; step: number; metrics: Record<string, number> }>;
  /** Global steps completed (including those before a resume). */
  readonly steps: number;
  readonly resumedFromStep?: number;
  readonly interrupted: boolean;
  /** Every variable the run owns, keyed as in checkpoints (networks, optimizer slots, method state). */
  readonly variables: ReadonlyMap<string, Variable>;
  /** Frees every network, optimizer slot and state variable of the run. */
  dispose(): void;
}

/** Streams of randomness derived from (seed, stream, step), so a resumed step draws what the original did. */
const STREAM_BUILD = 1;
const STREAM_VIEWS = 2;
const STREAM_METHOD = 3;
const STREAM_LABELED_ORDER = 4;

function isSemiSupervised(data: TrainData): data is { labeled: ImageDataset; unlabeled: ImageDataset } {
  return 'labeled' in data && 'unlabeled' in data;
}

function isImageText(data: TrainData): data is ImageTextDataset {
  return 'captions' in data && Array.isArray((data as ImageTextDataset).captions);
}

function checkPositiveInteger(field: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0)) invalidConfig(field, value, 'a positive integer');
}

function resolvePolicy(ref: ViewPolicyRef | undefined): ViewPolicy {
  if (ref === undefined) return viewPolicy('none');
  return typeof ref === 'string' ? viewPolicy(ref) : viewPolicy(ref.name, ref.overrides);
}

function resolveOptimizer(method: MethodHandle, override: Partial<OptimizerSpec> | undefined): OptimizerSpec {
  const recommended = method.definition.training?.optimizer ?? ({ kind: 'adamw', lr: 1e-3, weightDecay: 0.05 } as OptimizerSpec);
  if (!override) return recommended;
  if (override.kind === undefined || override.kind === recommended.kind) return { ...recommended, ...override } as OptimizerSpec;
  if (override.lr === undefined) invalidConfig('optimizer.lr', override.lr, `a learning rate when switching the optimizer to ${override.kind}`);
  return override as OptimizerSpec;
}

/** Every weight of every network, keyed by network name and position (names of tfjs variables vary between processes). */
function networkVariables(prefix: string, networks: Readonly<Record<string, LayersModel>> | undefined, into: Map<string, Variable>): void {
  for (const [name, model] of Object.entries(networks ?? {})) {
    model.weights.forEach((w, i) => {
      const variable = w.read() as Variable;
      // Networks may share layers (an encoder inside a classifier): store each variable once.
      for (const existing of into.values()) if (existing === variable) return;
      into.set(`${prefix}/${name}/${i}`, variable);
    });
  }
}

function trainableVariables(networks: Readonly<Record<string, LayersModel>>): Variable[] {
  const seen = new Set<Variable>();
  const result: Variable[] = [];
  for (const model of Object.values(networks)) {
    for (const w of model.trainableWeights) {
      const variable = w.read() as Variable;
      if (!seen.has(variable)) {
        seen.add(variable);
        result.push(variable);
      }
    }
  }
  return result;
}

function writeJsonAtomic(path: string, value: unknown): void {
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, JSON.stringify(value, null, 2));
  renameSync(temp, path);
}

/** Keeps metrics.jsonl consistent with a resumed run: drops records of steps after the checkpoint. */
function truncateMetrics(path: string, lastStep: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => {
      if (!line.trim()) return false;
      try {
        const record = JSON.parse(line) as { step?: number };
        return record.step === undefined || record.step <= lastStep;
      } catch {
        return false; // a line torn by a kill mid-write
      }
    });
  writeFileSync(path, kept.map((l) => `${l}\n`).join(''));
}

function toJson(value: unknown): JsonValue {
  return JSON.parse(JSON.stringify(value ?? null)) as JsonValue;
}

/**
 * Runs a method: builds its networks from a seed, then for each step gathers a batch in the seeded order
 * of its epoch, makes the method's views, computes the loss and gradients, applies the optimizer and the
 * method's after-step update, and checks that the loss is finite. Checkpoints and resumption are exact:
 * data order, views and method randomness are functions of (seed, step), and every variable is saved.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { method } = options;
  const definition = method.definition;
  const data = options.data;
  const seed = options.seed ?? 0;
  checkPositiveInteger('batchSize', options.batchSize);
  checkPositiveInteger('epochs', options.epochs);
  checkPositiveInteger('maxSteps', options.maxSteps);
  checkPositiveInteger('checkpointEvery.steps', options.checkpointEvery?.steps);
  checkPositiveInteger('checkpointEvery.epochs', options.checkpointEvery?.epochs);
  if (!Number.isInteger(seed)) invalidConfig('seed', seed, 'an integer');

  // Data of the kind the method consumes.
  let primary: ImageDataset;
  let labeledSet: ImageDataset | undefined;
  if (definition.data === 'semi-supervised') {
    if (!isSemiSupervised(data)) {
      throw new SslError('data', `${method.id} is semi-supervised: pass data: { labeled, unlabeled } (see labeledSplit in @ssl/core).`);
    }
    primary = data.unlabeled;
    labeledSet = data.labeled;
    if (!labeledSet.labels) throw new SslError('data', `${method.id}: the labeled set ${labeledSet.name} has no labels.`);
    if (labeledSet.size === 0) throw new SslError('data', `${method.id}: the labeled set ${labeledSet.name} is empty.`);
  } else {
    if (isSemiSupervised(data)) throw new SslError('data', `${method.id} trains on one dataset; got { labeled, unlabeled }.`);
    primary = data as ImageDataset;
    if (definition.data === 'image-text' && !isImageText(data)) {
      throw new SslError('data', `${method.id} needs image-caption pairs (an ImageTextDataset, e.g. from loadImageTextPairs).`);
    }
    if (definition.data === 'labeled' && !primary.labels) throw new SslError('data', `${method.id} needs labels; ${primary.name} has none.`);
  }
  if (primary.size === 0) throw new SslError('data', `Dataset ${primary.name} is empty: nothing to train on.`);

  const ratio = definition.data === 'semi-supervised' ? definition.unlabeledRatio?.(method.config) ?? 1 : 1;
  const batchSize = options.batchSize ?? definition.training?.batchSize ?? 256;
  const primaryBatch = definition.data === 'semi-supervised' ? batchSize * ratio : batchSize;
  const dropLast = options.dropLast ?? true;
  const stepsPerEpoch = batchesPerEpoch(primary.size, primaryBatch, dropLast);
  if (stepsPerEpoch === 0) {
    throw new SslError('data', `Dataset ${primary.name} has ${primary.size} images, fewer than one batch of ${primaryBatch}: lower batchSize.`);
  }
  const epochs = options.epochs ?? definition.training?.epochs ?? 10;
  const totalSteps = Math.min(epochs * stepsPerEpoch, options.maxSteps ?? Infinity);

  const optimizerSpec = resolveOptimizerSpec(resolveOptimizer(method, options.optimizer));
  const schedule = options.schedule ?? definition.training?.schedule ?? { kind: 'warmup-cosine', warmupFraction: 0.1 };
  validateSchedule(schedule);
  const views = definition.views(method.config);
  const unlabeledPolicy = resolvePolicy(views.unlabeled);
  const labeledPolicy = resolvePolicy(views.labeled);
  const encoderSpec: EncoderSpec = options.encoder ?? { kind: 'cnn', inputShape: primary.shape };

  // Build the method's networks with seeded initialisation.
  const buildRng = streamRandom(seed, STREAM_BUILD, 0);
  const context: BuildContext<object> = {
    config: method.config,
    inputShape: primary.shape,
    numClasses: labeledSet?.numClasses ?? primary.numClasses,
    captions: isImageText(primary) ? primary.captions : undefined,
    rng: buildRng,
    // Each encoder gets its own seed from the build stream: a teacher built second differs from the student
    // until the method copies weights, exactly as in a fresh process.
    createEncoder: () => createEncoder({ ...encoderSpec, seed: encoderSpec.seed ?? buildRng.seed() } as EncoderSpec),
  };
  const runtime = withSeededMathRandom(buildRng, () => definition.build(context)) as MethodRuntime;
  const trainable = trainableVariables(runtime.trainable);
  if (trainable.length === 0) throw new SslError('invalid-config', `${method.id} built no trainable weights.`);
  const optimizer = createOptimizer(optimizerSpec, trainable);

  const variables = new Map<string, Variable>();
  networkVariables('trainable', runtime.trainable, variables);
  networkVariables('frozen', runtime.frozen, variables);
  for (const [name, v] of Object.entries(runtime.state ?? {})) variables.set(`state/${name}`, v);
  optimizer.slots().forEach((v, i) => variables.set(`optimizer/${i}`, v));

  const disposeRun = () => {
    optimizer.dispose();
    runtime.dispose?.();
    for (const model of [...Object.values(runtime.trainable), ...Object.values(runtime.frozen ?? {})]) {
      try {
        model.dispose();
      } catch {
        // Models sharing layers: the second dispose of a shared layer throws; the weights are gone already.
      }
    }
    for (const v of Object.values(runtime.state ?? {})) if (!v.isDisposed) v.dispose();
  };

  // Run directory.
  const outDir = options.outDir;
  const checkpointDir = outDir ? join(outDir, 'checkpoints') : undefined;
  const metricsPath = outDir ? join(outDir, 'metrics.jsonl') : undefined;
  const runConfig = {
    method: method.id,
    plugin: method.plugin,
    config: method.config,
    encoder: encoderSpec,
    data: { name: primary.name, size: primary.size, shape: primary.shape, labeled: labeledSet ? { name: labeledSet.name, size: labeledSet.size } : undefined },
    epochs,
    maxSteps: options.maxSteps ?? null,
    batchSize,
    unlabeledRatio: ratio,
    optimizer: optimizerSpec,
    schedule,
    gradientClip: options.gradientClip ?? null,
    seed,
    dropLast,
  };

  let startStep = 0;
  let resumedFromStep: number | undefined;
  if (outDir) mkdirSync(outDir, { recursive: true });
  if (options.resume && checkpointDir) {
    const checkpoint = latestCheckpoint(checkpointDir);
    if (checkpoint) {
      const saved = checkpoint.manifest.meta.run as { method?: string; seed?: number } | undefined;
      if (saved?.method !== method.id) {
        throw new SslError('checkpoint', `Checkpoint ${checkpoint.path} was written by ${saved?.method ?? 'another method'}, not ${method.id}: use another --out directory.`);
      }
      restoreVariables(checkpoint, variables);
      startStep = checkpoint.manifest.step;
      resumedFromStep = startStep;
      if (metricsPath) truncateMetrics(metricsPath, startStep - 1);
    }
  }
  if (outDir) writeJsonAtomic(join(outDir, 'config.json'), runConfig);
  if (outDir && !options.resume && metricsPath) writeFileSync(metricsPath, '');

  const history: StepRecord[] = [];
  const epochLogs: TrainResult['epochLogs'] = [];
  const callbacks = options.callbacks ?? [];
  for (const cb of callbacks) await cb.onTrainStart?.({ methodId: method.id, totalSteps, startStep, stepsPerEpoch, epochs });

  let lastCheckpointStep = -1;
  const writeCheckpoint = (stepsDone: number) => {
    if (!checkpointDir || stepsDone === lastCheckpointStep) return;
    lastCheckpointStep = stepsDone;
    saveCheckpoint(checkpointDir, stepsDone, variables, { run: toJson(runConfig), seed, stepsPerEpoch }, { keepLast: options.keepCheckpoints ?? 2 });
  };
  const appendMetrics = (record: Record<string, unknown>) => {
    if (metricsPath) appendFileSync(metricsPath, `${JSON.stringify(record)}\n`);
  };

  const labeledOrderCache = new Map<number, Int32Array>();
  const labeledIndices = (step: number): Int32Array => {
    // Labeled images cycle independently of the unlabeled epoch, in a seeded order per pass.
    const set = labeledSet as ImageDataset;
    const out = new Int32Array(batchSize);
    for (let j = 0; j < batchSize; j++) {
      const position = step * batchSize + j;
      const pass = Math.floor(position / set.size);
      let order = labeledOrderCache.get(pass);
      if (!order) {
        order = epochOrder(set.size, seed + STREAM_LABELED_ORDER * 7919, pass);
        labeledOrderCache.clear();
        labeledOrderCache.set(pass, order);
      }
      out[j] = order[position % set.size];
    }
    return out;
  };

  const makeViews = (images: Tensor4D, policy: ViewPolicy, rng: Random): ImageViews => ({
    images,
    views: policy.views.length === 0 ? [] : applyViews(policy, images, rng),
  });

  const makeBatch = (step: number, indices: Int32Array): { batch: Batch; owned: Tensor[] } => {
    const viewRng = streamRandom(seed, STREAM_VIEWS, step);
    const owned: Tensor[] = [];
    const own = <T extends Tensor>(t: T): T => {
      owned.push(t);
      return t;
    };
    const gathered = gatherBatch(primary, indices);
    own(gathered.images);
    if (gathered.labels) own(gathered.labels);
    const primaryViews = makeViews(gathered.images, unlabeledPolicy, viewRng);
    primaryViews.views.forEach(own);
    let batch: Batch;
    switch (definition.data) {
      case 'unlabeled':
        batch = { kind: 'unlabeled', ...primaryViews };
        break;
      case 'labeled':
        batch = { kind: 'labeled', ...primaryViews, labels: gathered.labels as tf.Tensor1D };
        break;
      case 'image-text': {
        const captions = Array.from(indices, (i) => (primary as ImageTextDataset).captions[i]);
        batch = { kind: 'image-text', ...primaryViews, captions, labels: gathered.labels };
        break;
      }
      case 'semi-supervised': {
        const labeledBatch = gatherBatch(labeledSet as ImageDataset, labeledIndices(step));
        own(labeledBatch.images);
        own(labeledBatch.labels as tf.Tensor1D);
        const labeledViews = makeViews(labeledBatch.images, labeledPolicy, viewRng);
        labeledViews.views.forEach(own);
        batch = {
          kind: 'semi-supervised',
          labeled: { ...labeledViews, labels: labeledBatch.labels as tf.Tensor1D },
          unlabeled: primaryViews,
        };
        break;
      }
    }
    return { batch, owned };
  };

  let step = startStep;
  let interrupted = false;
  const startEpoch = Math.floor(startStep / stepsPerEpoch);
  try {
    outer: for (let epoch = startEpoch; epoch < epochs && step < totalSteps; epoch++) {
      const order = epochOrder(primary.size, seed, epoch);
      for (let b = step - epoch * stepsPerEpoch; b < stepsPerEpoch && step < totalSteps; b++) {
        if (options.signal?.aborted) {
          interrupted = true;
          break outer;
        }
        const started = performance.now();
        const lr = learningRateAt(schedule, optimizerSpec.lr, step, totalSteps);
        const stepContext: StepContext = {
          step,
          epoch,
          totalSteps,
          progress: step / totalSteps,
          rng: streamRandom(seed, STREAM_METHOD, step),
          lr,
        };
        const indices = order.subarray(b * primaryBatch, Math.min(primary.size, (b + 1) * primaryBatch));
        const { batch, owned } = makeBatch(step, indices);
        const mathRng = streamRandom(seed, STREAM_METHOD + 100, step);
        let lossValue: number;
        const metricValues: Record<string, number> = {};
        try {
          const keptMetrics: Record<string, Scalar> = {};
          const { value, grads } = withSeededMathRandom(mathRng, () =>
            variableGrads(() => {
              const out = runtime.step(batch as never, stepContext);
              for (const [name, t] of Object.entries(out.metrics ?? {})) keptMetrics[name] = tf.keep(t);
              return out.loss;
            }, trainable),
          );
          lossValue = (await value.data())[0];
          for (const [name, t] of Object.entries(keptMetrics)) {
            metricValues[name] = t.dataSync()[0];
            t.dispose();
          }
          value.dispose();
          if (!Number.isFinite(lossValue)) {
            tf.dispose(grads);
            throw new SslError(
              'non-finite-loss',
              `${method.id}: the loss became ${lossValue} at step ${step} (epoch ${epoch}, lr ${lr.toPrecision(3)}). ` +
                'Lower the learning rate, enable gradientClip, or check the input data for NaN/Inf.',
              { details: { step, epoch, lr, loss: lossValue } },
            );
          }
          let gradients: (Tensor | null)[] = trainable.map((v) => grads[v.name] ?? null);
          let clippedToDispose: Tensor[] = [];
          if (options.gradientClip !== undefined) {
            const present = gradients.filter((g): g is Tensor => g !== null);
            const { clipped } = clipByGlobalNorm(present, options.gradientClip);
            clippedToDispose = clipped;
            let k = 0;
            gradients = gradients.map((g) => (g === null ? null : clipped[k++]));
          }
          optimizer.apply(gradients, lr);
          tf.dispose(grads);
          tf.dispose(clippedToDispose);
          if (runtime.afterStep) {
            withSeededMathRandom(mathRng, () => tf.tidy(() => runtime.afterStep?.(batch as never, stepContext)));
          }
        } finally {
          tf.dispose(owned);
        }
        step += 1;
        const seconds = (performance.now() - started) / 1000;
        const imagesPerStep = indices.length + (definition.data === 'semi-supervised' ? batchSize : 0);
        const record: StepRecord = { step: step - 1, epoch, loss: lossValue, lr, metrics: metricValues, seconds, imagesPerSecond: imagesPerStep / seconds };
        history.push(record);
        appendMetrics({ type: 'step', step: record.step, epoch, loss: lossValue, lr, ...metricValues, seconds, time: Date.now() });
        for (const cb of callbacks) await cb.onStepEnd?.(record);
        // Let the event loop run between steps: wasm reads resolve as microtasks, so without this a whole
        // run never reaches the poll phase and signal handlers (Ctrl-C → checkpoint), IPC and timers wait.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (options.checkpointEvery?.steps && step % options.checkpointEvery.steps === 0) writeCheckpoint(step);
      }
      if (step === (epoch + 1) * stepsPerEpoch) {
        const epochMetrics: Record<string, number> = {};
        const epochContext: EpochContext = {
          epoch,
          step,
          encoder: runtime.encoder,
          log: (metrics) => Object.assign(epochMetrics, metrics),
        };
        for (const cb of callbacks) await cb.onEpochEnd?.(epochContext);
        epochLogs.push({ epoch, step, metrics: epochMetrics });
        appendMetrics({ type: 'epoch', epoch, step: step - 1, ...epochMetrics, time: Date.now() });
        const everyEpochs = options.checkpointEvery?.epochs ?? (options.checkpointEvery?.steps ? undefined : 1);
        if (everyEpochs && (epoch + 1) % everyEpochs === 0) writeCheckpoint(step);
      }
    }
    if (interrupted || step === totalSteps) writeCheckpoint(step);
    // The representation, in the standard LayersModel format, for anyone who wants only the encoder.
    const encoder = runtime.encoder as Encoder & { readonly spec?: EncoderSpec };
    if (outDir && encoder.spec) await saveEncoder(encoder as Encoder & { readonly spec: EncoderSpec }, join(outDir, 'encoder'));
  } catch (error) {
    disposeRun();
    throw error;
  }

  const result: TrainResult = {
    methodId: method.id,
    encoder: runtime.encoder,
    runtime,
    history,
    epochLogs,
    steps: step,
    resumedFromStep,
    interrupted,
    variables,
    dispose: disposeRun,
  };
  for (const cb of callbacks) await cb.onTrainEnd?.(result);
  return result;
}
