import { SslError, encoderFromSpec, encoderView, train } from '@ssl/core';
import type { AnyEncoderSpec, Encoder, EncoderKindsOptions, HeldOutFigure, MethodHandle, TrainOptions, TrainResult } from '@ssl/core';
import { compareRepresentations } from './compare-representations';
import type { ComparisonRow, MeanStd } from './compare-representations';
import { extractFeatures, flattenEncoder } from './extract-features';
import { cachedControl, controlScoreKey, keepControl, type ControlCache } from './control-cache';
import { evaluateHeldOutTask, formatHeldOutValue, heldOutMargin } from './held-out-task';
import { evaluateMethodClassifier, type ClassifierEvaluation } from './method-classifier';
import type { FeatureEncoder, FeatureSet, LabeledImageDataset } from './types';

/**
 * The one evaluation protocol behind every figure `ssl pretrain`, `ssl eval` and the examples print:
 * three representations (the trained encoder, the same encoder spec and seed at random init, raw pixels),
 * each scored by the same three classifiers on frozen features.
 */
export const EVALUATION_PROTOCOL = {
  /** Cosine kNN over all train labels, votes weighted exp(s / 0.07) (Wu et al. 2018); k is capped at the train size. */
  knn: { k: 200, weighting: 'exp', temperature: 0.07 },
  /** Linear probe on every train label (L-BFGS logistic regression on standardized features). */
  linear: { weightDecay: 1e-4 },
  /**
   * Linear probe on 10 labels per class, over 5 class-balanced label subsets (seeds seed … seed + 4), mean ± std.
   * 100 labeled rows against 128+ feature dimensions: 1e-4 nearly interpolates them, 1e-2 is the penalty
   * the package READMEs' tables were measured with.
   */
  fewLabels: { perClass: 10, subsets: 5, weightDecay: 1e-2 },
} as const;

/** One representation's figures, accuracies as fractions in [0, 1]. */
export interface ProtocolScores {
  featureDim: number;
  /** kNN top-1 with every train label. */
  knn: number;
  /** Linear probe top-1 with every train label. */
  linear: number;
  /** Linear probe top-1 with 10 labels per class: mean ± std over the label subsets. */
  fewLabels: MeanStd;
}

/** The protocol's settings as they were applied (k after capping, the subsets' seeds, the data sizes). */
export interface AppliedProtocol {
  knn: { k: number; weighting: 'exp'; temperature: number };
  linear: { weightDecay: number };
  fewLabels: { perClass: number; seeds: number[]; weightDecay: number };
  trainImages: number;
  testImages: number;
}

/** Every figure of the protocol for the trained encoder, next to its two controls. */
export interface ControlledEvaluation {
  trained: ProtocolScores;
  /** The same encoder spec and seed, untrained: what the method has to beat to have learned anything. */
  randomInit: ProtocolScores;
  rawPixels: ProtocolScores;
  protocol: AppliedProtocol;
  /** Wall time of the evaluation (feature extraction included). */
  seconds: number;
  /** The trained encoder's features, for diagnostics that need them (collapse, embedding maps) without a second pass. */
  trainedFeatures: { train: FeatureSet; test: FeatureSet };
  /** The method's own classifier beside its control, when the method trains one (pretrainAndCompare only). */
  classifier?: ClassifierEvaluation;
  /** The method's own task on held-out data beside its uninformed reference (pretrainAndCompare only). */
  heldOutTask?: readonly HeldOutFigure[];
  /** Controls whose scores came from `controlCache` (measured by an earlier evaluation of the same data). */
  cachedControls?: readonly ControlledRepresentation[];
}

export interface CompareWithControlsOptions {
  /** The trained encoder (only read). */
  encoder: FeatureEncoder;
  /** The random-init control, e.g. `randomInitControl(encoder)`; the caller disposes it. */
  randomInit: FeatureEncoder;
  /** Labeled images: the kNN bank and the probes' training set. */
  train: LabeledImageDataset;
  /** Labeled held-out images every figure is measured on. */
  test: LabeledImageDataset;
  /** First label-subset seed of the 10-labels-per-class probe (the subsets are seed … seed + 4). Default 0. */
  seed?: number;
  /** Images per forward pass while extracting features (default 256). */
  extractBatchSize?: number;
  /** Called after each representation is scored, e.g. to log progress. */
  onScored?: (name: ControlledRepresentation, scores: ProtocolScores, seconds: number) => void;
  /** Keeps the controls' scores across evaluations of the same data (see ControlScoreStore); off when absent. */
  controlCache?: ControlCache;
}

export type ControlledRepresentation = 'trained' | 'randomInit' | 'rawPixels';

/**
 * The evaluation half of `pretrainAndCompare`, for an encoder trained elsewhere (`ssl eval`): scores the
 * encoder, its random-init control and raw pixels with `EVALUATION_PROTOCOL`.
 */
export async function compareWithControls(options: CompareWithControlsOptions): Promise<ControlledEvaluation> {
  const started = performance.now();
  const { train: trainSet, test: testSet } = options;
  const seed = options.seed ?? 0;
  const extract = options.extractBatchSize === undefined ? {} : { batchSize: options.extractBatchSize };
  const trainedFeatures = {
    train: await extractFeatures(options.encoder, trainSet, extract),
    test: await extractFeatures(options.encoder, testSet, extract),
  };
  const protocol: AppliedProtocol = {
    knn: { ...EVALUATION_PROTOCOL.knn, k: Math.min(EVALUATION_PROTOCOL.knn.k, trainSet.size) },
    linear: { ...EVALUATION_PROTOCOL.linear },
    fewLabels: {
      perClass: EVALUATION_PROTOCOL.fewLabels.perClass,
      seeds: Array.from({ length: EVALUATION_PROTOCOL.fewLabels.subsets }, (_, i) => seed + i),
      weightDecay: EVALUATION_PROTOCOL.fewLabels.weightDecay,
    },
    trainImages: trainSet.size,
    testImages: testSet.size,
  };
  const controls = await controlsToScore(options, protocol);
  const rows = await compareRepresentations({
    candidates: [
      { name: 'trained', features: trainedFeatures },
      ...controls.filter((control) => !control.cached).map((control) => control.candidate),
    ],
    train: trainSet,
    test: testSet,
    extract,
    knn: protocol.knn,
    linear: protocol.linear,
    fewLabels: {
      perClass: protocol.fewLabels.perClass,
      seeds: protocol.fewLabels.seeds,
      linear: { weightDecay: protocol.fewLabels.weightDecay },
    },
    onRow: (row, seconds) => options.onScored?.(row.name as ControlledRepresentation, scoresOf(row), seconds),
  });
  const scored = new Map(rows.map((row) => [row.name, row]));
  for (const control of controls) {
    if (control.cached) {
      scored.set(control.candidate.name, control.cached);
      options.onScored?.(control.candidate.name, scoresOf(control.cached), 0);
    } else if (control.key) await keepControl(options.controlCache, control.key, scored.get(control.candidate.name)!);
  }
  const rowOf = (name: ControlledRepresentation) => scored.get(name)!;
  const cachedControls = controls.filter((control) => control.cached).map((control) => control.candidate.name);
  return {
    trained: scoresOf(rowOf('trained')),
    randomInit: scoresOf(rowOf('randomInit')),
    rawPixels: scoresOf(rowOf('rawPixels')),
    protocol,
    seconds: (performance.now() - started) / 1000,
    trainedFeatures,
    ...(cachedControls.length > 0 ? { cachedControls } : {}),
  };
}

interface ControlToScore {
  candidate: { name: 'randomInit' | 'rawPixels'; encoder: FeatureEncoder };
  /** Undefined when the control cannot be cached (a random init without a spec) or there is no cache. */
  key?: string;
  cached?: ComparisonRow;
}

/** The two controls, each with its cached scores when the cache holds them for this data and protocol. */
async function controlsToScore(options: CompareWithControlsOptions, protocol: AppliedProtocol): Promise<ControlToScore[]> {
  const spec = (options.randomInit as { spec?: unknown }).spec;
  const controls = [
    {
      candidate: { name: 'randomInit' as const, encoder: options.randomInit },
      identity: spec === undefined ? undefined : { randomInit: spec },
    },
    { candidate: { name: 'rawPixels' as const, encoder: flattenEncoder() }, identity: 'rawPixels' },
  ];
  return Promise.all(
    controls.map(async ({ candidate, identity }) => {
      if (!options.controlCache || identity === undefined) return { candidate };
      const key = controlScoreKey(options.controlCache, JSON.stringify(identity), protocol);
      const cached = await cachedControl(options.controlCache, key);
      return { candidate, key, ...(cached ? { cached } : {}) };
    }),
  );
}

function scoresOf(row: ComparisonRow): ProtocolScores {
  const fewLabels = row.fewLabels?.linear;
  if (!fewLabels) throw new SslError('invalid-config', `compareWithControls: ${row.name} has no few-labels probe.`);
  return { featureDim: row.featureDim, knn: row.knn, linear: row.linear, fewLabels };
}

/**
 * The same encoder spec and seed as `encoder`, freshly initialised: exactly the network training started
 * from, since the trainer writes the seed it drew into the spec. An encoder of a plugin's kind needs that kind's
 * definition: pass the registry's encoder kinds, `{ encoders: registry.parts().encoders }`, or a method handle of
 * the registry (its `parts.encoders`). The caller disposes it (`control.model.dispose()`).
 */
export function randomInitControl(encoder: Encoder, kinds?: MethodHandle | EncoderKindsOptions): Encoder {
  const spec = (encoder as Encoder & { spec?: AnyEncoderSpec }).spec;
  if (spec === undefined) {
    throw new SslError(
      'invalid-config',
      `The ${encoder.kind} encoder has no spec to rebuild its random-init control from; use an encoder from train(), createEncoder() or loadEncoder().`,
    );
  }
  if (spec.seed === undefined) {
    throw new SslError(
      'invalid-config',
      `The ${encoder.kind} encoder's spec has no seed, so its random init cannot be rebuilt; give the spec a seed.`,
    );
  }
  // Handles made by hand (tests, older callers) may carry no parts.
  const encoders = kinds && 'definition' in kinds ? (kinds.parts as MethodHandle['parts'] | undefined)?.encoders : kinds?.encoders;
  return encoderFromSpec(spec, {
    ...(encoders ? { encoders } : {}),
    usage: 'randomInitControl(encoder, { encoders: registry.parts().encoders })',
  });
}

/**
 * Evaluation images as a method's encoder sees them (`MethodDefinition.encoderInput`: colorization's encoder sees
 * lightness only); the images themselves for most methods.
 */
export function imagesAsEncoderSees(method: MethodHandle, dataset: LabeledImageDataset): LabeledImageDataset {
  if (!method.definition.encoderInput) return dataset;
  const [height, width, channels] = dataset.shape;
  return encoderView(method.definition, {
    ...dataset,
    shape: [height, width, channels],
    name: dataset.name ?? 'evaluation images',
    classNames: dataset.classNames && [...dataset.classNames],
  });
}

export interface PretrainAndCompareOptions extends TrainOptions {
  /**
   * Labeled train and test images for the evaluation (the kNN bank and probes' training set, and the held-out
   * set). Without it the method is only trained and `evaluation` is undefined.
   */
  evaluation?: { train: LabeledImageDataset; test: LabeledImageDataset };
  /**
   * Held-out data in the form the method trains on, for its own task's read-out (`MethodRuntime.heldOutTask`);
   * default: `evaluation.test` for methods that train on unlabeled images.
   */
  heldOut?: unknown;
  /** Images per forward pass while extracting features (default 256). */
  extractBatchSize?: number;
  /** Called once training has ended, before the evaluation starts (e.g. to print "evaluating..."). */
  onTrained?: (run: TrainResult, seconds: number) => void;
  controlCache?: CompareWithControlsOptions['controlCache'];
  onScored?: CompareWithControlsOptions['onScored'];
  /**
   * Also train the method's supervised-only ablation (its `supervisedControl` config: same labels, encoder
   * spec, seed and steps, not saved) and report it beside the method's classifier. Doubles the training time.
   */
  supervisedControl?: boolean;
  /** Called before the supervised-only control starts training. */
  onControlTraining?: () => void;
}

export interface PretrainAndCompareResult {
  /** The training run. The caller owns it: read what it needs (heads, runtime), then `run.dispose()`. */
  run: TrainResult;
  trainSeconds: number;
  /** Undefined when no evaluation data was given or the run was interrupted (a half-trained encoder is not scored). */
  evaluation?: ControlledEvaluation;
}

/**
 * Trains a method with core's `train`, then scores the trained encoder, its random-init control (same spec
 * and seed) and raw pixels with `EVALUATION_PROTOCOL` (`compareWithControls`). The runner behind
 * `ssl pretrain`, `ssl eval` and every example, so their figures are computed the same way.
 */
export async function pretrainAndCompare(options: PretrainAndCompareOptions): Promise<PretrainAndCompareResult> {
  const {
    evaluation: data,
    heldOut,
    controlCache,
    extractBatchSize,
    onTrained,
    onScored,
    supervisedControl,
    onControlTraining,
    ...trainOptions
  } = options;
  const started = performance.now();
  const run = await train(trainOptions);
  const trainSeconds = (performance.now() - started) / 1000;
  onTrained?.(run, trainSeconds);
  if (!data || run.interrupted) return { run, trainSeconds };
  const control = randomInitControl(run.encoder, options.method);
  try {
    const evaluation = await compareWithControls({
      encoder: run.encoder,
      randomInit: control,
      // What the encoder saw in training (colorization: lightness only), and raw pixels of the same.
      train: imagesAsEncoderSees(options.method, data.train),
      test: imagesAsEncoderSees(options.method, data.test),
      seed: options.seed ?? 0,
      ...(extractBatchSize === undefined ? {} : { extractBatchSize }),
      ...(onScored ? { onScored } : {}),
      ...(controlCache ? { controlCache } : {}),
    });
    const classifier = await evaluateMethodClassifier({
      run,
      test: data.test,
      ...(supervisedControl ? { controlTraining: trainOptions, onControlTraining } : {}),
      ...(extractBatchSize === undefined ? {} : { batchSize: extractBatchSize }),
    });
    const seed = options.seed ?? 0;
    const heldOutTask = await evaluateHeldOutTask({ run, method: options.method, test: data.test, heldOut, seed });
    return {
      run,
      trainSeconds,
      evaluation: { ...evaluation, ...(classifier ? { classifier } : {}), ...(heldOutTask ? { heldOutTask } : {}) },
    };
  } finally {
    control.model.dispose();
  }
}

/** Row labels of the figures, shared by the terminal table, eval.json and the examples. */
export const FIGURE_NAMES = {
  knn: 'kNN top-1',
  linear: 'linear probe top-1, all labels',
  fewLabels: 'linear probe top-1, 10 labels/class',
} as const;

export type FigureKey = keyof typeof FIGURE_NAMES;

export interface ControlledFigure {
  key: FigureKey;
  name: string;
  trained: MeanStd | number;
  randomInit: MeanStd | number;
  rawPixels: MeanStd | number;
  /** Trained minus random init, in accuracy (fraction) units. */
  gain: number;
  /** How it was measured, e.g. "k=200, cosine, exp(s/0.07) votes". */
  detail: string;
}

/** The three figures of an evaluation, each with its controls and the gain over random init. */
export function controlledFigures(evaluation: ControlledEvaluation): ControlledFigure[] {
  const { protocol } = evaluation;
  const pick = (key: FigureKey) => ({
    trained: evaluation.trained[key],
    randomInit: evaluation.randomInit[key],
    rawPixels: evaluation.rawPixels[key],
    gain: meanOf(evaluation.trained[key]) - meanOf(evaluation.randomInit[key]),
  });
  const sizes = `${protocol.trainImages} train / ${protocol.testImages} test images`;
  return [
    {
      key: 'knn',
      name: FIGURE_NAMES.knn,
      ...pick('knn'),
      detail: `k=${protocol.knn.k}, cosine, exp(s/${protocol.knn.temperature}) votes; ${sizes}`,
    },
    {
      key: 'linear',
      name: FIGURE_NAMES.linear,
      ...pick('linear'),
      detail: `L-BFGS logistic regression, weight decay ${protocol.linear.weightDecay}`,
    },
    {
      key: 'fewLabels',
      name: FIGURE_NAMES.fewLabels,
      ...pick('fewLabels'),
      detail: `mean ± std over ${protocol.fewLabels.seeds.length} label subsets (seeds ${protocol.fewLabels.seeds.join(', ')}), weight decay ${protocol.fewLabels.weightDecay}`,
    },
  ];
}

function meanOf(value: MeanStd | number): number {
  return typeof value === 'number' ? value : value.mean;
}

/** `67.3%`, or `66.3 ± 2.0%` for a mean over label subsets. */
export function formatFigure(value: MeanStd | number): string {
  return typeof value === 'number' ? `${(100 * value).toFixed(1)}%` : `${(100 * value.mean).toFixed(1)} ± ${(100 * value.std).toFixed(1)}%`;
}

/** `+2.2 pts` / `-0.4 pts`. */
export function formatGain(gain: number): string {
  const points = (100 * gain).toFixed(1);
  return points === '-0.0' || points === '0.0' ? '0.0 pts' : `${gain > 0 ? '+' : ''}${points} pts`;
}

/**
 * The table every command and example prints: each figure of the trained encoder with its random-init
 * control beside it, the gain, and raw pixels; then, for a method that trains its own classifier, that
 * classifier's top-1 beside its control (supervised-only on the same labels, or chance). 'text' aligns
 * columns for a terminal; 'markdown' is for READMEs.
 */
export function formatControlledEvaluation(evaluation: ControlledEvaluation, options: { style?: 'text' | 'markdown' } = {}): string {
  const header = ['figure', 'trained', 'random init', 'gain', 'raw pixels'];
  const rows = controlledFigures(evaluation).map((figure) => [
    figure.name,
    formatFigure(figure.trained),
    formatFigure(figure.randomInit),
    formatGain(figure.gain),
    formatFigure(figure.rawPixels),
  ]);
  const tables = [formatTable(header, rows, options.style)];
  if (evaluation.cachedControls?.length) {
    const names = evaluation.cachedControls.map((name) => (name === 'randomInit' ? 'random init' : 'raw pixels')).join(' and ');
    tables[0] += `\n(${names}: scores kept from an earlier evaluation of the same data, protocol and spec)`;
  }
  if (evaluation.classifier) tables.push(formatClassifierTable(evaluation.classifier, options.style));
  if (evaluation.heldOutTask?.length) tables.push(formatHeldOutTable(evaluation.heldOutTask, options.style));
  return tables.join('\n\n');
}

/** The method's own task on held-out data, each figure beside the uninformed predictor it must beat. */
function formatHeldOutTable(figures: readonly HeldOutFigure[], style?: 'text' | 'markdown'): string {
  const header = ["the method's own task, held-out data", 'method', 'reference', 'vs reference'];
  const rows = figures.map((figure) => [
    figure.name,
    formatHeldOutValue(figure),
    `${formatHeldOutValue(figure, figure.reference.value)} (${figure.reference.name})`,
    heldOutMargin(figure),
  ]);
  return formatTable(header, rows, style);
}

/** The method's own classifier (its top-1 on the test set) beside its control and the gain over it. */
function formatClassifierTable(classifier: ClassifierEvaluation, style?: 'text' | 'markdown'): string {
  const { control } = classifier;
  const header = ["the method's own classifier", 'method', control?.name ?? 'control', 'gain'];
  const row = [
    classifier.description,
    formatFigure(classifier.accuracy),
    control ? formatFigure(control.accuracy) : 'not trained',
    control ? formatGain(classifier.accuracy - control.accuracy) : '',
  ];
  return formatTable(header, [row], style);
}

function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, style?: 'text' | 'markdown'): string {
  if (style === 'markdown') {
    const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
    return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
  }
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const formatRow = (row: readonly string[]) =>
    row
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])))
      .join('  ')
      .trimEnd();
  return [formatRow(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(formatRow)].join('\n');
}
