import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  acquireRunLock,
  encoderView,
  initBackend,
  prepareOutputDirectory,
  releaseRunLock,
  type ImageDataset,
  type InitialEncoder,
  type JsonValue,
  type MethodHandle,
  type TrainCallback,
} from '@ssl/core';
import {
  imagesAsEncoderSees,
  knnMonitor,
  pretrainAndCompare,
  type ControlCache,
  type KnnMonitor,
  type PretrainAndCompareResult,
} from '@ssl/eval';
import type { CliIo } from '../cli-io';
import { controlScoreCache } from '../control-score-cache';
import { describeEvaluation, formatEvaluationTable, writeEmbeddingMap } from '../evaluate-encoder';
import { loadRunData, type RunData } from '../load-run-data';
import { describeDataSource } from '../options';
import { loadRegistry } from '../plugins';
import { createTrainingProgress } from '../progress';
import { RUN_FILES } from '../report/read-run';
import { writeRunReport } from '../report/write-run-report';
import { formatNumber } from '../report/svg-line-chart';
import { inCliVocabulary } from '../cli-vocabulary';
import { STOP_SIGNALS, watchStopSignals, type StopSignal } from '../stop-signals';
import { planTrainingRun, type TrainingFlags, type TrainingMode, type TrainingPlan } from './plan-training-run';
import { withTextTower } from '../text-tower-flag';
import { loadInitialEncoder } from '../init-flag';

/** Images the per-epoch kNN monitor uses: enough for a stable estimate, small enough to cost seconds. */
const MONITOR_TRAIN_IMAGES = 5000;
const MONITOR_TEST_IMAGES = 1000;

export interface PretrainCommandOptions {
  mode: TrainingMode;
  method: string;
  flags: TrainingFlags;
  verbose: boolean;
}

/**
 * `ssl pretrain` / `ssl semisup`: validate everything, then @ssl/eval's `pretrainAndCompare` (the runner the
 * examples use too): train with a progress bar, save the encoder, evaluate it beside the same encoder at
 * random init and raw pixels (kNN k=200, linear probe, 10-labels-per-class probe over 5 label subsets), add
 * collapse diagnostics and the embedding map, print the results and write eval.json and report.html.
 * Resolves to the exit code: 0, or 130 / 143 / 129 for a run stopped (checkpointed) by SIGINT / SIGTERM / SIGHUP.
 */
export async function runPretrainCommand(io: CliIo, options: PretrainCommandOptions): Promise<number> {
  const { registry, warnings } = await loadRegistry(io.cwd);
  if (options.verbose) for (const warning of warnings) io.stderr.write(`ssl: warning: ${warning}\n`);
  const plan = await planTrainingRun(registry, io.cwd, { mode: options.mode, method: options.method, flags: options.flags });
  await claimRunDirectory(plan);
  try {
    return await trainAndEvaluate(io, plan);
  } finally {
    releaseRunLock(plan.outDir);
  }
}

/** Files and folders of a run that --overwrite removes; anything else in the directory is left alone. */
const RUN_ENTRIES = ['config.json', 'metrics.jsonl', 'checkpoints', 'encoder', 'products', ...Object.values(RUN_FILES)];

/**
 * Makes --out ready before any work: created and proven writable within a timeout, locked for this process
 * (a second run there is refused naming this pid), and with --overwrite cleared of the previous run's files.
 */
async function claimRunDirectory(plan: TrainingPlan): Promise<void> {
  await prepareOutputDirectory(plan.outDir);
  acquireRunLock(plan.outDir);
  if (plan.overwrite) {
    for (const entry of RUN_ENTRIES) await rm(join(plan.outDir, entry), { recursive: true, force: true });
  }
}

async function trainAndEvaluate(io: CliIo, checkedPlan: TrainingPlan): Promise<number> {
  let plan = checkedPlan;
  if (plan.directoryNote) io.stderr.write(`ssl: ${plan.directoryNote}.\n`);

  // Backend and data are checked before the first weight is created: a missing tfjs-node or a corrupt
  // image fails in seconds, not after an epoch.
  const backend = await initBackend({ backend: plan.backend, log: (line) => io.stderr.write(`ssl: ${line}\n`) });
  // --text-tower (checked by the plan): loaded now that the backend is up, before the method's synchronous build.
  if (plan.textTower) {
    plan = { ...plan, method: await withTextTower(plan.method, plan.textTower) };
    io.stderr.write(
      `ssl: ${plan.method.id}'s text tower starts from the masked:mlm run in ${plan.textTower} (its tokenizer and weights).\n`,
    );
  }
  // --init (checked by the plan): the encoder weights every encoder of the method, and of its control, starts from.
  const start = plan.init ? await loadInitialEncoder(plan.init, plan.method.parts.encoders) : undefined;
  if (plan.init && !plan.resume) {
    io.stderr.write(
      `ssl: ${plan.method.id}'s encoder starts from the ${start?.initialEncoder.encoder.kind} encoder of ${plan.init} (its heads from the seed)` +
        `${plan.control.kind === 'own' ? '; its supervised-only control starts from it too' : ''}.\n`,
    );
  }
  const data = await loadRunData(plan.data, {
    geometry: plan.geometry,
    seed: plan.seed,
    labelsPerClass: plan.labelsPerClass,
    needEvaluation: plan.evaluate,
    ...(plan.evalData ? { evaluationSource: plan.evalData } : {}),
    ...(plan.audio ? { audio: plan.audio } : {}),
  }).catch((error: unknown) => {
    throw inCliVocabulary(error);
  });
  io.stderr.write(
    `ssl: ${plan.resume ? 'resuming' : 'training'} ${plan.method.id} (${plan.method.plugin.name}@${plan.method.plugin.version}) on ${describeDataSource(plan.data)}, ` +
      `${plan.encoder ? `encoder ${plan.encoderChoice}` : "the method's own encoders (no images)"}, backend ${backend.name}, seed ${plan.seed} → ${plan.outDir}\n`,
  );
  if (data.streamed) io.stderr.write(`ssl: ${data.streamed}.\n`);

  const { encoderInput } = plan.method.definition;
  if (encoderInput) io.stderr.write(`ssl: the encoder sees ${encoderInput.description}; it and its controls are evaluated on the same.\n`);

  // Online kNN accuracy (and RankMe, per-dimension std) at each epoch end, on fixed subsets so it stays cheap.
  const monitor =
    plan.evaluate && data.evaluationTrain && data.evaluationTest
      ? knnMonitor({
          train: encoderView(plan.method.definition, data.evaluationTrain),
          test: encoderView(plan.method.definition, data.evaluationTest),
          maxTrain: MONITOR_TRAIN_IMAGES,
          maxTest: MONITOR_TEST_IMAGES,
          seed: plan.seed,
        })
      : undefined;
  // The trainer writes the encoder to <out>/encoder/ (tfjs LayersModel format) when it stops.
  const { run, evaluation, stoppedBy } = await trainWithProgress(io, plan, data, monitor, start?.initialEncoder).finally(async () => {
    start?.dispose();
    await data.close?.();
  });
  // A streamed set's corrupt images were skipped as the steps met them: the run says how many, and which.
  const corrupt = data.corruptImages?.();
  if (corrupt) io.stderr.write(`ssl: ${corrupt}.\n`);

  const trainedNewSteps = run.steps > (run.resumedFromStep ?? 0);
  if (!evaluation && trainedNewSteps && (await removeStaleEvaluation(plan.outDir))) {
    io.stderr.write(
      `ssl: removed ${RUN_FILES.evaluation}: it described the model before this run's new steps (ssl eval ${plan.outDir} evaluates it again).\n`,
    );
  }
  if (run.interrupted) {
    io.stderr.write('ssl: skipped evaluation of the interrupted run.\n');
  } else if (evaluation) {
    if (plan.control.kind === 'run' && evaluation.classifier) {
      const { runDir, accuracy } = plan.control;
      evaluation.classifier = { ...evaluation.classifier, control: { name: 'supervised-only', accuracy } };
      io.stderr.write(
        `ssl: supervised-only control: ${(100 * accuracy).toFixed(2)}% from ${runDir} (same data, labels, seed, encoder, batch, lr and steps).\n`,
      );
    }
    const result = await describeEvaluation(evaluation, { seed: plan.seed, classNames: data.evaluationTest?.classNames });
    await writeFile(join(plan.outDir, RUN_FILES.evaluation), `${JSON.stringify(result.evaluation, null, 2)}\n`);
    await writeEmbeddingMap(plan.outDir, result);
    io.stdout.write(formatEvaluationTable(result));
  } else if (plan.evaluate && data.heldOut !== undefined && !plan.encoder && run.runtime.heldOutTask) {
    // Data without images (a corpus, spoken clips with their texts) has no image encoder to evaluate: the method's own
    // task on the held-out data (sentences; clips of an unheard voice: retrieval, zero-shot) is the read-out.
    const figures = await run.runtime.heldOutTask(data.heldOut, { seed: plan.seed });
    for (const figure of figures) {
      const value = figure.kind === 'accuracy' ? `${(100 * figure.value).toFixed(1)}%` : formatNumber(figure.value);
      const reference = figure.kind === 'accuracy' ? `${(100 * figure.reference.value).toFixed(1)}%` : formatNumber(figure.reference.value);
      io.stdout.write(`held-out ${figure.name}: ${value} (${figure.reference.name}: ${reference})\n`);
    }
  } else if (plan.evaluate && data.streamed) {
    io.stderr.write(
      'ssl: skipped evaluation: streamed images are not held in memory; pass --eval-data <labeled folder or dataset> to evaluate.\n',
    );
  } else if (plan.evaluate) {
    io.stderr.write('ssl: skipped evaluation: the data has no labeled test split (use a labeled folder or a built-in dataset).\n');
  }
  const reportPath = await writeRunReport(plan.outDir);
  io.stdout.write(`\nrun directory: ${plan.outDir}\nreport: ${reportPath}\n`);
  return run.interrupted ? STOP_SIGNALS[stoppedBy ?? 'SIGINT'] : 0;
}

/** Removes eval.json and the embedding map of an earlier model of this run; true when there was an eval.json. */
async function removeStaleEvaluation(outDir: string): Promise<boolean> {
  const existed = existsSync(join(outDir, RUN_FILES.evaluation));
  for (const file of [RUN_FILES.evaluation, RUN_FILES.embeddingMapPng, RUN_FILES.embeddingMapSvg])
    await rm(join(outDir, file), { force: true });
  return existed;
}

async function trainWithProgress(
  io: CliIo,
  plan: TrainingPlan,
  data: RunData,
  monitor: KnnMonitor | undefined,
  initialEncoder: InitialEncoder | undefined,
): Promise<PretrainAndCompareResult & { stoppedBy?: StopSignal }> {
  let progress: ReturnType<typeof createTrainingProgress> | undefined;
  const progressCallback: TrainCallback = {
    name: 'cli-progress',
    onTrainStart(info) {
      progress = createTrainingProgress(io, info.totalSteps);
      if (info.startStep > 0) progress.log(`resumed at step ${info.startStep}/${info.totalSteps}`);
    },
    onStepEnd(record) {
      progress?.update({
        step: record.step + 1,
        epoch: record.epoch + 1,
        loss: record.loss,
        lr: record.lr,
        imagesPerSecond: record.imagesPerSecond,
      });
    },
    async onEpochEnd(context) {
      const logged: Record<string, number> = {};
      if (monitor)
        await monitor.onEpochEnd({ epoch: context.epoch, encoder: context.encoder, log: (metrics) => Object.assign(logged, metrics) });
      context.log(logged);
      const knn = logged.knn_top1 === undefined ? '' : `, kNN top-1 ${(logged.knn_top1 * 100).toFixed(1)}%`;
      progress?.log(`epoch ${context.epoch + 1} done (step ${context.step})${knn}`);
    },
  };
  // First Ctrl-C / SIGTERM / SIGHUP: finish the current step, checkpoint and stop cleanly (resume with --resume). Second: exit now.
  const stop = watchStopSignals((signal) => {
    const line = `ssl: ${signal}: stopping after this step and writing a checkpoint (send it again to quit at once)...`;
    if (progress) progress.log(line);
    else io.stderr.write(`${line}\n`);
  });
  const finishTraining = () => {
    progress?.stop();
    stop.dispose();
  };
  try {
    const result = await pretrainAndCompare({
      method: plan.method,
      data: data.train,
      encoder: plan.encoder,
      epochs: plan.epochs,
      ...(plan.steps === undefined ? {} : { maxSteps: plan.steps }),
      ...(initialEncoder ? { initialEncoder } : {}),
      batchSize: plan.batchSize,
      optimizer: plan.lr === undefined ? undefined : { lr: plan.lr },
      seed: plan.seed,
      outDir: plan.outDir,
      resume: plan.resume,
      extend: plan.extend,
      checkpointEvery: { steps: plan.checkpointEvery, epochs: 1 },
      invocation: JSON.parse(JSON.stringify(plan.invocation)) as { [key: string]: JsonValue },
      callbacks: [progressCallback],
      signal: stop.signal,
      // Checkpoint fallbacks, a gradient norm exploding: above the progress bar, in the run's own words.
      onWarning: (message) => {
        if (progress) progress.log(`ssl: warning: ${message}`);
        else io.stderr.write(`ssl: warning: ${message}\n`);
      },
      // `ssl semisup`: the method's classifier is compared with its supervised-only ablation on the same labels
      // (trained here, unless --control names a finished supervised-only run or --no-control skips it).
      supervisedControl: plan.mode === 'semisup' && plan.control.kind === 'own',
      onControlTraining: () =>
        io.stderr.write(
          `ssl: training the supervised-only control (${plan.method.id} without its unlabeled term, same labels and steps)...\n`,
        ),
      ...(plan.evaluate && data.evaluationTrain && data.evaluationTest
        ? {
            evaluation: { train: data.evaluationTrain, test: data.evaluationTest },
            heldOut: data.heldOut,
            ...controlCacheOf(plan.method, data.evaluationTrain, data.evaluationTest),
          }
        : {}),
      onTrained(result) {
        finishTraining();
        const last = result.history[result.history.length - 1];
        io.stderr.write(
          `ssl: ${result.interrupted ? 'interrupted' : 'finished'} after ${result.steps} steps` +
            (last ? `, final loss ${formatNumber(last.loss)}` : '') +
            (result.interrupted ? `; continue with --resume --out ${plan.outDir}` : '') +
            '\n',
        );
        if (!result.interrupted && plan.evaluate && data.evaluationTrain && data.evaluationTest) {
          io.stderr.write('ssl: evaluating the encoder beside the same encoder at random init and raw pixels (kNN, linear probes)...\n');
        }
      },
    }).catch((error: unknown) => {
      throw inCliVocabulary(error);
    });
    const stoppedBy = stop.stoppedBy();
    return stoppedBy ? { ...result, stoppedBy } : result;
  } finally {
    finishTraining();
  }
}

/** The controls' score cache for evaluation images as the method's encoder sees them (its key is their hash). */
function controlCacheOf(method: MethodHandle, train: ImageDataset, test: ImageDataset): { controlCache?: ControlCache } {
  const cache = controlScoreCache(imagesAsEncoderSees(method, train) as ImageDataset, imagesAsEncoderSees(method, test) as ImageDataset);
  return cache ? { controlCache: cache } : {};
}
