import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { initBackend, loadFashionMnist, subset } from '@ssl/core';
import type { AnyEncoderSpec, CnnSpec, ImageDataset, MethodHandle, TrainCallback, TrainResult } from '@ssl/core';
import { EVALUATION_PROTOCOL, formatControlledEvaluation, pretrainAndCompare } from '@ssl/eval';
import type { AppliedProtocol, ControlledEvaluation, ProtocolScores } from '@ssl/eval';

/*
 * The Fashion-MNIST side of the examples: load the data, then hand everything to @ssl/eval's
 * pretrainAndCompare, the runner `ssl pretrain` uses too, so an example and
 * `ssl pretrain <method> --data fashion-mnist[-sample]` with the same settings print the same figures.
 * Each example supplies its method and defaults.
 */

export interface PretrainAndCompareOptions {
  epochs?: number;
  /** 'full': the 60k/10k Fashion-MNIST (Debian copy, cache or download); 'sample': the 3000/1000 bundled with @ssl/core. */
  data?: 'full' | 'sample';
  /** Train on the first `limit` training images only (quick recipe comparisons); evaluation uses all of them. */
  limit?: number;
  /** Evaluate on the first N train / test images only (quick runs; training still uses `limit` or all); default all. */
  evalTrain?: number;
  evalTest?: number;
  /** Stop after this many steps (smoke runs). */
  maxSteps?: number;
  out?: string;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** CNN stage widths instead of the default [32, 64, 128] (the random-init control uses the same). */
  channels?: number[];
  /** A fixed encoder seed; by default the trainer draws it from `seed`, as `ssl pretrain` does. */
  encoderSeed?: number;
  log?: (line: string) => void;
}

export interface PretrainAndCompareResult {
  method: string;
  data: string;
  epochs: number;
  steps: number;
  trainSeconds: number;
  evalSeconds: number;
  loadAverage: number;
  encoder: AnyEncoderSpec;
  protocol: AppliedProtocol;
  results: { trained: ProtocolScores; randomInit: ProtocolScores; rawPixels: ProtocolScores };
  /** Figures of the example's own (`afterTraining`), e.g. a pretext head's rotation accuracy. */
  extra: Record<string, number>;
  /** What the example prints: the same table as `ssl pretrain`. */
  table: string;
  /** The same figures as a markdown table, for READMEs. */
  markdown: string;
}

/**
 * The encoder `ssl pretrain` builds for 28×28 grayscale data with `--encoder cnn` (the default): the small
 * CNN, channels 32-64-128 with batch norm. Only the options the user sets are added, so the spec (and with it
 * the seed the trainer draws) is the CLI's.
 */
export function exampleEncoder(options: { channels?: number[]; encoderSeed?: number } = {}): CnnSpec {
  return {
    kind: 'cnn',
    inputShape: [28, 28, 1],
    ...(options.channels ? { channels: options.channels } : {}),
    ...(options.encoderSeed === undefined ? {} : { seed: options.encoderSeed }),
  };
}

export interface PretrainAndCompareSetup {
  /** The method's name in the log ('SimCLR'). */
  label: string;
  /** Creates the configured method (called once the backend is up). */
  createMethod: () => MethodHandle;
  /** Batch size when the options give none (default: the method's own). */
  defaultBatchSize?: number;
  /** Epochs when the options give none (default: the method's own). */
  defaultEpochs?: number;
  /** The backbone; default `exampleEncoder(options)`. */
  encoder?: AnyEncoderSpec;
  /** More trainer callbacks (e.g. a method's own progress line). */
  callbacks?: TrainCallback[];
  /**
   * Reads what the example needs from the trained run before it is freed (e.g. a pretext head's accuracy);
   * the figures it returns go to the result's `extra` and results.json.
   */
  afterTraining?: (
    run: TrainResult,
    evaluation: ControlledEvaluation,
    data: { train: ImageDataset; test: ImageDataset },
  ) => Promise<Record<string, number>> | Record<string, number>;
}

function firstImages(dataset: ImageDataset, limit: number | undefined): ImageDataset {
  if (limit === undefined || limit >= dataset.size) return dataset;
  return subset(
    dataset,
    Array.from({ length: limit }, (_, i) => i),
    `${dataset.name}-${limit}`,
  );
}

export async function runPretrainAndCompare(
  setup: PretrainAndCompareSetup,
  options: PretrainAndCompareOptions = {},
): Promise<PretrainAndCompareResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  await initBackend();
  const source = options.data ?? 'full';
  const fullTrainSet = await loadFashionMnist({ split: 'train', source });
  const trainSet = firstImages(fullTrainSet, options.evalTrain);
  const testSet = firstImages(await loadFashionMnist({ split: 'test', source }), options.evalTest);
  const trainOn = firstImages(fullTrainSet, options.limit);
  const method = setup.createMethod();
  const encoder = setup.encoder ?? exampleEncoder(options);
  const epochs = options.epochs ?? setup.defaultEpochs;
  const batchSize = options.batchSize ?? setup.defaultBatchSize;
  log(`${setup.label} on ${trainOn.name} (${trainOn.size} images), ${epochs ?? "the method's"} epochs, encoder ${JSON.stringify(encoder)}`);
  const started = performance.now();
  let plannedEpochs = epochs ?? Number.NaN;
  const { run, trainSeconds, evaluation } = await pretrainAndCompare({
    method,
    data: trainOn,
    encoder,
    ...(epochs === undefined ? {} : { epochs }),
    ...(batchSize === undefined ? {} : { batchSize }),
    ...(options.maxSteps === undefined ? {} : { maxSteps: options.maxSteps }),
    seed: options.seed ?? 0,
    ...(options.lr === undefined ? {} : { optimizer: { lr: options.lr } }),
    ...(options.out === undefined ? {} : { outDir: options.out }),
    callbacks: [
      {
        name: 'progress',
        onTrainStart: (info) => void (plannedEpochs = info.epochs),
        onEpochEnd: ({ epoch, step }) => log(`epoch ${epoch + 1}: step ${step}, ${((performance.now() - started) / 1000).toFixed(0)} s`),
      },
      ...(setup.callbacks ?? []),
    ],
    evaluation: { train: trainSet, test: testSet },
    onTrained: (result, seconds) =>
      log(`trained ${result.steps} steps in ${seconds.toFixed(0)} s; evaluating beside the same encoder at random init and raw pixels`),
    onScored: (name, scores, seconds) => log(`scored ${name} (${scores.featureDim} features) in ${seconds.toFixed(0)} s`),
  });
  try {
    if (!evaluation) throw new Error(`${setup.label} was interrupted after ${run.steps} steps; nothing to compare.`);
    const extra = (await setup.afterTraining?.(run, evaluation, { train: trainSet, test: testSet })) ?? {};
    const result: PretrainAndCompareResult = {
      method: method.id,
      data: `${trainOn.name} → ${testSet.name}`,
      epochs: plannedEpochs,
      steps: run.steps,
      trainSeconds,
      evalSeconds: evaluation.seconds,
      loadAverage: loadavg()[0],
      encoder: (run.encoder as { spec?: AnyEncoderSpec }).spec ?? encoder,
      protocol: evaluation.protocol,
      results: { trained: evaluation.trained, randomInit: evaluation.randomInit, rawPixels: evaluation.rawPixels },
      extra,
      table: formatControlledEvaluation(evaluation),
      markdown: formatControlledEvaluation(evaluation, { style: 'markdown' }),
    };
    if (options.out) {
      mkdirSync(options.out, { recursive: true });
      writeFileSync(join(options.out, 'results.json'), `${JSON.stringify(result, null, 2)}\n`);
    }
    return result;
  } finally {
    run.dispose();
  }
}

/** The settings line printed under the table. */
export function describeRun(result: PretrainAndCompareResult): string {
  const few = EVALUATION_PROTOCOL.fewLabels;
  return (
    `${result.method} on ${result.data}: ${result.steps} steps, train ${result.trainSeconds.toFixed(0)} s, eval ${result.evalSeconds.toFixed(0)} s, ` +
    `load ${result.loadAverage.toFixed(1)}; ${few.perClass} labels/class over ${few.subsets} label subsets`
  );
}
