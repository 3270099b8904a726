import type { Variable } from '@tensorflow/tfjs-core';
import { batchesPerEpoch, epochOrder } from '../data/batches';
import { SslError } from '../errors';
import type { MethodRuntime, StepContext } from '../method';
import type { Encoder } from '../nn/encoder';
import type { JsonValue } from './checkpoint';
import { CollapseWatch, GradientNormWatch, divergedError, nonFiniteNames, probeCollapse, resolveGuard } from './divergence-guard';
import type { DivergenceGuardOptions, ResolvedGuard } from './divergence-guard';
import { planRun } from './plan';
import type { PlanOptions, RunPlan } from './plan';
import { RunPools } from './pools';
import type { Pool } from './pools';
import { checkResumeMatches } from './resume-check';
import { toJson } from './run-store';
import type { RunStore, StoredCheckpoint } from './run-store';
import { STREAM_METHOD, STREAM_ROUND_END, STREAM_VIEWS, buildRound, disposeRound, disposeTrainingState } from './run-networks';
import type { RoundNetworks } from './run-networks';
import { learningRateAt } from './schedules';
import { streamRandom } from './seeded';
import { trainingStep } from './training-step';

export type { TrainData } from './data-kinds';

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
  /** Steps of the whole run as planned (rounds whose pools grow may run more). */
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

export interface TrainOptions extends PlanOptions {
  /** Run directory (Node): config.json, metrics.jsonl, checkpoints/, encoder/. Without it (and without `store`) nothing is written. */
  readonly outDir?: string;
  /**
   * Where the run is kept instead of `outDir`: a `MemoryRunStore` (the browser's default), or any `RunStore`.
   * With `resume`, the run continues from the store's newest checkpoint.
   */
  readonly store?: RunStore;
  readonly keepCheckpoints?: number;
  /**
   * Continue from the newest complete checkpoint in outDir/checkpoints (fresh start when there is none). The
   * options must describe the run saved there: any difference is refused, except more `epochs` with `extend`.
   */
  readonly resume?: boolean;
  /**
   * With resume: allow more epochs than the saved run's (one-round methods). The learning-rate schedule is
   * planned over the new total, as if the run had been started with those epochs.
   */
  readonly extend?: boolean;
  /** Non-finite parameters/gradients and collapse checks (on by default); false turns them off. */
  readonly guard?: DivergenceGuardOptions | false;
  /** How the run was started (e.g. the command line's flags), stored as config.json's `invocation`. */
  readonly invocation?: { readonly [key: string]: JsonValue };
  readonly callbacks?: readonly TrainCallback[];
  /** Stops after the current step, writing a checkpoint first when outDir (or a store) is set. */
  readonly signal?: AbortSignal;
  /**
   * Problems the run recovered from, in words (a damaged newest checkpoint skipped on resume). Default:
   * `process.emitWarning` in Node, `console.warn` elsewhere. Also collected in `TrainResult.warnings`.
   */
  readonly onWarning?: (message: string) => void;
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
  /** Every warning the run reported through `onWarning`. */
  readonly warnings: readonly string[];
  /** Every variable the run owns, keyed as in checkpoints (networks, optimizer slots, method state). */
  readonly variables: ReadonlyMap<string, Variable>;
  /** Frees every network, optimizer slot and state variable of the run. */
  dispose(): void;
  /** Frees the optimizer slots and method state only: for networks the caller owns (fine-tuning an encoder in place). */
  disposeTrainingState(): void;
}

/** Where a run starts: a fresh run at round 0, step 0, or the round and step of its newest checkpoint. */
interface StartPoint {
  readonly step: number;
  readonly round: number;
  readonly roundStartStep: number;
  readonly checkpoint?: StoredCheckpoint;
}

/** The mutable state of a run in progress, shared by its named parts. */
interface RunState {
  readonly plan: RunPlan;
  readonly options: TrainOptions;
  readonly directory: RunStore;
  readonly pools: RunPools;
  networks: RoundNetworks;
  step: number;
  roundStartStep: number;
  interrupted: boolean;
  readonly warnings: string[];
  readonly history: StepRecord[];
  readonly epochLogs: TrainResult['epochLogs'];
  readonly guard?: ResolvedGuard;
  readonly collapse?: CollapseWatch;
  readonly gradientNorms?: GradientNormWatch;
}

function runConfig(plan: RunPlan, invocation?: TrainOptions['invocation']) {
  return {
    method: plan.method.id,
    plugin: plan.method.plugin,
    config: plan.method.config,
    // null: data without images and no encoder given (the method's own encoder is `trainedEncoder`).
    encoder: plan.encoder ?? null,
    // Only when given, so config.json of a run without one is as before (resume compares absent with null).
    ...(plan.initialEncoder ? { initialEncoder: plan.initialEncoder.from } : {}),
    data: plan.source.describe(),
    epochs: plan.epochs,
    rounds: plan.rounds,
    maxSteps: plan.maxSteps ?? null,
    batchSize: plan.batchSize,
    unlabeledRatio: plan.unlabeledRatio,
    optimizer: plan.optimizer,
    schedule: plan.schedule,
    gradientClip: plan.gradientClip ?? null,
    seed: plan.seed,
    dropLast: plan.dropLast,
    ...(invocation ? { invocation } : {}),
  };
}

/**
 * The spec of the encoder the method built, which config.json records beside the one asked for (`encoder`): a
 * method may complete it (MAE's sin-cos position embedding, autoregressive's causal attention). Null for
 * encoders without a spec.
 */
function trainedEncoderSpec(encoder: Encoder): JsonValue {
  const spec = (encoder as Encoder & { spec?: unknown }).spec;
  return spec === undefined ? null : toJson(spec);
}

function findStart(
  plan: RunPlan,
  directory: RunStore,
  options: TrainOptions,
  pools: RunPools,
  warn: (message: string) => void,
): StartPoint {
  const checkpoint = options.resume ? directory.resumeCheckpoint(warn) : undefined;
  if (!checkpoint) return { step: 0, round: 0, roundStartStep: 0 };
  const meta = checkpoint.meta as { run?: { [key: string]: JsonValue }; round?: number; roundStartStep?: number; pools?: never };
  if (meta.run?.method !== plan.method.id) {
    throw new SslError(
      'checkpoint',
      `Checkpoint ${checkpoint.location} was written by ${String(meta.run?.method ?? 'another method')}, not ${plan.method.id}: use another output directory.`,
    );
  }
  checkResumeMatches({
    saved: meta.run,
    current: toJson(runConfig(plan)) as { [key: string]: JsonValue },
    extend: options.extend === true,
    outDir: directory.location,
  });
  pools.restore(meta.pools);
  return { step: checkpoint.step, round: meta.round ?? 0, roundStartStep: meta.roundStartStep ?? 0, checkpoint };
}

/** Builds rounds 0..round (each the teacher of the next), keeping only the last; restores a checkpoint into it. */
function buildUpTo(plan: RunPlan, start: StartPoint, pools: RunPools): RoundNetworks {
  let networks = buildRound(plan, 0, pools, undefined);
  for (let round = 1; round <= start.round; round++) {
    const next = buildRound(plan, round, pools, networks.runtime);
    disposeRound(networks, next.runtime);
    networks = next;
  }
  start.checkpoint?.restore(networks.variables);
  return networks;
}

function stepsPerEpochOf(run: RunState): number {
  const pool = run.pools.get(run.plan.source.epochPool);
  const steps = batchesPerEpoch(pool?.ids.length ?? 0, run.plan.epochBatchSize, run.plan.dropLast);
  if (steps === 0)
    throw new SslError('data', `Round ${run.networks.round}: the ${run.plan.source.epochPool} pool holds fewer than one batch.`);
  return steps;
}

/** Throws `diverged` when a parameter, optimizer slot or state tensor holds a NaN or an Inf. */
function checkFiniteVariables(run: RunState, lr?: number): void {
  if (!run.guard) return;
  const names = nonFiniteNames(run.networks.variables);
  if (names.length > 0) throw divergedError('parameters', names, { step: run.step, lr });
}

/**
 * Embeds fixed training images and feeds the collapse watch: image encoders that take the data's images as
 * they are (colorization's encoder sees only the L channel the method derives, so the probe cannot feed it).
 * Data without images (a corpus, audio–text pairs) has nothing to probe.
 */
async function checkCollapse(run: RunState): Promise<void> {
  const encoder = run.networks.runtime.encoder;
  const imageShape = run.plan.source.inputShape;
  if (!run.guard || !run.collapse || !imageShape || encoder.inputShape.length !== 3) return;
  if (encoder.inputShape[2] !== imageShape[2]) return;
  const pool = run.pools.get(run.plan.source.epochPool);
  if (!pool || pool.ids.length === 0) return;
  const images = await run.plan.source.images(Int32Array.from(pool.ids.slice(0, run.guard.probeImages)));
  try {
    run.collapse.record(probeCollapse(encoder, images), run.step);
  } finally {
    images.dispose();
  }
}

function writeCheckpoint(run: RunState, stepsPerEpoch: number): void {
  // Never write a checkpoint that holds NaN/Inf: the previous good one stays the newest.
  if (!run.directory.hasCheckpointAt(run.step)) checkFiniteVariables(run);
  run.directory.writeCheckpoint(run.step, run.networks.variables, {
    run: toJson(runConfig(run.plan, run.options.invocation)),
    seed: run.plan.seed,
    stepsPerEpoch,
    round: run.networks.round,
    roundStartStep: run.roundStartStep,
    pools: run.pools.toJson(),
  });
}

/** Runs one step at global step `run.step` of a round with `roundSteps` steps; records and reports it. */
async function runOneStep(run: RunState, epoch: number, ids: Int32Array, roundSteps: number, nextIds?: Int32Array): Promise<void> {
  const { plan, networks } = run;
  const started = performance.now();
  const roundStep = run.step - run.roundStartStep;
  const lr = learningRateAt(plan.schedule, plan.optimizer.lr, roundStep, roundSteps);
  const context: StepContext = {
    step: run.step,
    epoch,
    round: networks.round,
    totalSteps: roundSteps,
    progress: roundStep / roundSteps,
    rng: streamRandom(plan.seed, STREAM_METHOD, run.step),
    lr,
  };
  const viewRng = streamRandom(plan.seed, STREAM_VIEWS, run.step);
  const made = await plan.source.batch({
    step: run.step,
    ids,
    pools: run.pools,
    views: plan.views,
    viewRng,
    labeledBatchSize: plan.batchSize,
    seed: plan.seed,
  });
  // A streamed source reads the next step's images while this one trains.
  if (nextIds) plan.source.prefetch?.(nextIds);
  // The guard looks at gradients and parameters every guard.everySteps steps: one fused reduction each.
  const checkFinite = run.guard !== undefined && (run.step + 1) % run.guard.everySteps === 0;
  let values;
  try {
    const mathRng = streamRandom(plan.seed, STREAM_METHOD + 100, run.step);
    values = await trainingStep(networks, made.batch, context, {
      methodId: plan.method.id,
      gradientClip: plan.gradientClip,
      mathRng,
      checkGradients: checkFinite,
    });
  } finally {
    made.owned.forEach((t) => t.dispose());
  }
  if (checkFinite) checkFiniteVariables(run, lr);
  if (values.gradientNorm !== undefined) run.gradientNorms?.record(values.gradientNorm, { step: run.step, lr, round: networks.round });
  const seconds = (performance.now() - started) / 1000;
  const record: StepRecord = {
    step: run.step,
    epoch,
    loss: values.loss,
    lr,
    metrics: values.metrics,
    seconds,
    imagesPerSecond: made.imageCount / seconds,
  };
  run.step += 1;
  run.history.push(record);
  run.directory.appendMetrics({
    type: 'step',
    step: record.step,
    epoch,
    loss: record.loss,
    lr,
    ...record.metrics,
    seconds,
    time: Date.now(),
  });
  for (const cb of run.options.callbacks ?? []) await cb.onStepEnd?.(record);
}

async function endEpoch(run: RunState, epoch: number, epochInRound: number, stepsPerEpoch: number, lastOfRound: boolean): Promise<void> {
  const metrics: Record<string, number> = {};
  const context: EpochContext = { epoch, step: run.step, encoder: run.networks.runtime.encoder, log: (m) => Object.assign(metrics, m) };
  for (const cb of run.options.callbacks ?? []) await cb.onEpochEnd?.(context);
  run.epochLogs.push({ epoch, step: run.step, metrics });
  run.directory.appendMetrics({ type: 'epoch', epoch, step: run.step - 1, ...metrics, time: Date.now() });
  const every = run.options.checkpointEvery;
  const everyEpochs = every?.epochs ?? (every?.steps ? undefined : 1);
  // A round that hands over to another checkpoints after the hand-over, with the next round's networks.
  const handsOver = lastOfRound && run.networks.round < run.plan.rounds - 1;
  if (everyEpochs && (epochInRound + 1) % everyEpochs === 0 && !handsOver) writeCheckpoint(run, stepsPerEpoch);
}

/** The sample ids of batch `position` of an epoch; each epoch's seeded order is drawn once, not per step. */
function epochBatches(pool: Pool, seed: number, batchSize: number): (epoch: number, position: number) => Int32Array {
  let drawn: { epoch: number; order: Int32Array } | undefined;
  return (epoch, position) => {
    if (drawn?.epoch !== epoch) drawn = { epoch, order: epochOrder(pool.ids.length, seed, epoch) };
    const positions = drawn.order.subarray(position * batchSize, Math.min(pool.ids.length, (position + 1) * batchSize));
    return Int32Array.from(positions, (p) => pool.ids[p]);
  };
}

/** Trains the current round from run.step to its end (or maxSteps, or an abort). */
async function runRound(run: RunState): Promise<void> {
  const { plan, options } = run;
  const stepsPerEpoch = stepsPerEpochOf(run);
  const pool = run.pools.get(plan.source.epochPool)!;
  const roundSteps = Math.min(plan.epochs * stepsPerEpoch, (plan.maxSteps ?? Infinity) - run.roundStartStep);
  const roundEnd = run.roundStartStep + roundSteps;
  const epochBase = run.networks.round * plan.epochs;
  const idsAt = epochBatches(pool, plan.seed, plan.epochBatchSize);
  while (run.step < roundEnd) {
    if (options.signal?.aborted) {
      run.interrupted = true;
      return;
    }
    const epochInRound = Math.floor((run.step - run.roundStartStep) / stepsPerEpoch);
    const position = (run.step - run.roundStartStep) % stepsPerEpoch;
    const nextIds = plan.source.prefetch && position + 1 < stepsPerEpoch ? idsAt(epochBase + epochInRound, position + 1) : undefined;
    await runOneStep(run, epochBase + epochInRound, idsAt(epochBase + epochInRound, position), roundSteps, nextIds);
    const epochEnded = (run.step - run.roundStartStep) % stepsPerEpoch === 0;
    if (run.guard && (epochEnded || run.step % run.guard.collapseEverySteps === 0)) await checkCollapse(run);
    // Let the event loop run between steps: wasm reads resolve as microtasks, so without this a whole
    // run never reaches the poll phase and signal handlers (Ctrl-C → checkpoint), IPC and timers wait.
    await yieldToEventLoop();
    if (options.checkpointEvery?.steps && run.step % options.checkpointEvery.steps === 0) writeCheckpoint(run, stepsPerEpoch);
    if (epochEnded) {
      await endEpoch(
        run,
        epochBase + epochInRound,
        epochInRound,
        stepsPerEpoch,
        run.step === run.roundStartStep + plan.epochs * stepsPerEpoch,
      );
    }
  }
}

/** Ends a round: the method changes the pools, the next round is built on the trained one, and a checkpoint marks the hand-over. */
function handOver(run: RunState): void {
  const { plan, networks } = run;
  networks.runtime.endRound?.({
    round: networks.round,
    pools: run.pools,
    images: (ids) => {
      const images = plan.source.images(ids);
      if (images instanceof Promise)
        throw new SslError('data', `${plan.method.id} changes its pools between rounds, which needs the data in memory, not streamed.`);
      return images;
    },
    rng: streamRandom(plan.seed, STREAM_ROUND_END, networks.round),
  });
  const next = buildRound(plan, networks.round + 1, run.pools, networks.runtime);
  disposeRound(networks, next.runtime);
  run.networks = next;
  run.roundStartStep = run.step;
  writeCheckpoint(run, stepsPerEpochOf(run));
}

async function runRounds(run: RunState): Promise<void> {
  for (;;) {
    await runRound(run);
    const atMaxSteps = run.step >= (run.plan.maxSteps ?? Infinity);
    if (run.interrupted || atMaxSteps || run.networks.round === run.plan.rounds - 1) break;
    handOver(run);
  }
  writeCheckpoint(run, stepsPerEpochOf(run));
  // The encoder and the method's other products (a classifier, a text tower, a tokenizer...).
  await run.directory.saveOutputs(run.networks.runtime, { method: run.plan.method.id, step: run.step, interrupted: run.interrupted });
}

function startRun(options: TrainOptions, openStore: () => RunStore): RunState {
  const plan = planRun(options);
  const guard = resolveGuard(options.guard);
  // In Node: creates outDir (refusing pseudo file systems and unwritable paths) and takes its run.lock.
  const directory = openStore();
  try {
    const pools = new RunPools(plan.source.initialPools, { sampleCount: plan.source.sampleCount, numClasses: plan.source.numClasses });
    const warnings: string[] = [];
    const warn = (message: string) => {
      warnings.push(message);
      if (options.onWarning) options.onWarning(message);
      else emitWarning(message);
    };
    const start = findStart(plan, directory, options, pools, warn);
    const networks = buildUpTo(plan, start, pools);
    directory.writeConfig({ ...runConfig(plan, options.invocation), trainedEncoder: trainedEncoderSpec(networks.runtime.encoder) });
    directory.startMetrics(start.checkpoint ? start.step : undefined);
    const collapse = guard && new CollapseWatch(guard);
    const gradientNorms = guard && new GradientNormWatch(warn);
    return {
      plan,
      options,
      directory,
      pools,
      networks,
      step: start.step,
      roundStartStep: start.roundStartStep,
      interrupted: false,
      warnings,
      history: [],
      epochLogs: [],
      guard,
      collapse,
      gradientNorms,
    };
  } catch (error) {
    directory.release();
    throw error;
  }
}

function resultOf(run: RunState, resumedFromStep: number | undefined): TrainResult {
  const { runtime, variables } = run.networks;
  return {
    methodId: run.plan.method.id,
    encoder: runtime.encoder,
    runtime,
    history: run.history,
    epochLogs: run.epochLogs,
    steps: run.step,
    resumedFromStep,
    interrupted: run.interrupted,
    warnings: run.warnings,
    variables,
    dispose: () => disposeRound(run.networks),
    disposeTrainingState: () => disposeTrainingState(run.networks),
  };
}

/**
 * Runs a method in the run store `openStore` gives (called once the options are validated): builds its networks from a seed, then for each step gathers a batch in the seeded order
 * of its epoch, makes the method's views, computes the loss and gradients, applies the optimizer and the
 * method's after-step update, and checks that the loss is finite. A multi-round method runs its rounds in
 * turn. Checkpoints and resumption are exact: data order, views and method randomness are functions of
 * (seed, step), and every variable, the round and the pools are saved.
 */
export async function runTraining(options: TrainOptions, openStore: () => RunStore): Promise<TrainResult> {
  const run = startRun(options, openStore);
  const resumedFromStep = options.resume && run.step > 0 ? run.step : undefined;
  const stepsPerEpoch = stepsPerEpochOf(run);
  const plannedSteps = Math.min(run.plan.rounds * run.plan.epochs * stepsPerEpoch, run.plan.maxSteps ?? Infinity);
  const info: TrainStartInfo = {
    methodId: run.plan.method.id,
    totalSteps: plannedSteps,
    startStep: run.step,
    stepsPerEpoch,
    epochs: run.plan.epochs * run.plan.rounds,
  };
  try {
    try {
      for (const cb of options.callbacks ?? []) await cb.onTrainStart?.(info);
      await runRounds(run);
    } catch (error) {
      disposeRound(run.networks);
      throw error;
    }
    const result = resultOf(run, resumedFromStep);
    for (const cb of options.callbacks ?? []) await cb.onTrainEnd?.(result);
    return result;
  } finally {
    run.directory.release();
  }
}

/**
 * Lets the event loop run between steps. Node: setImmediate (wasm reads resolve as microtasks, so without it
 * a run never reaches the poll phase). Browsers have no setImmediate: a timeout (clamped to 4 ms when nested,
 * small beside a step) lets the page paint and handle input between steps.
 */
function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise<void>((resolve) => setImmediate(resolve));
  return new Promise<void>((resolve) => setTimeout(resolve, 0));
}

function emitWarning(message: string): void {
  const nodeProcess = (globalThis as { process?: { emitWarning?: (message: string, type: string) => void } }).process;
  if (typeof nodeProcess?.emitWarning === 'function') nodeProcess.emitWarning(message, 'SslWarning');
  else console.warn(`SslWarning: ${message}`);
}
