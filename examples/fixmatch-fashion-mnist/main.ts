/**
 * FixMatch vs. supervised-only on Fashion-MNIST with a few labels per class.
 *
 * For each seed: split the training set into `labelsPerClass` labeled images per class and the rest
 * unlabeled, then train the same CNN + linear classifier for the same number of steps twice, with the same
 * labeled batches, weak augmentation, optimizer, schedule and EMA: once as FixMatch (λu = 1) and once as
 * its supervised-only ablation (λu = 0, unlabeled images unused). Both are scored by the EMA model's top-1
 * accuracy on the test set.
 *
 *   pnpm --filter @ssl-examples/fixmatch-fashion-mnist start -- --source full --seeds 0,1,2 --steps 2000
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, gatherBatch, initBackend, labeledSplit, loadFashionMnist, train } from '@ssl/core';
import type { EncoderSpec, ImageDataset, TrainCallback } from '@ssl/core';
import semisup, { classify } from '@ssl/semisup';
import type { FixMatchRuntime } from '@ssl/semisup';

export interface FixMatchExperimentOptions {
  /** 'sample' (3000/1000 images shipped with @ssl/core), 'full', 'auto' or a folder. */
  source: string;
  labelsPerClass: number;
  seeds: number[];
  steps: number;
  /** Labeled images per step; the unlabeled batch is unlabeledRatio × this. */
  batchSize: number;
  unlabeledRatio: number;
  threshold: number;
  lr: number;
  /** Decay of the EMA model that is scored (paper: 0.999). */
  emaDecay: number;
  /** Strong view: cutout square side as a fraction of the image side (weakStrong default 0.5). */
  cutoutSize: number;
  /** Strong view: RandAugment magnitude on 0..10, or 'random' per op (FixMatch's variant, the default). */
  magnitude: number | 'random';
  /** CNN channels per stage. */
  channels: number[];
  /** CNN conv3×3 layers per stage. */
  convsPerStage: number;
  /** Log every this many steps (0 = quiet). */
  logEvery: number;
}

export interface SeedResult {
  seed: number;
  fixmatch: number;
  supervised: number;
  /** The students' accuracies (the networks the optimizer trained), for comparison with the EMA models'. */
  fixmatchStudent: number;
  supervisedStudent: number;
  fixmatchSeconds: number;
  supervisedSeconds: number;
  /** Mean mask rate over the last 10% of FixMatch's steps. */
  finalMaskRate: number;
  /** What FixMatch's confidence mask lets through at the end, measured on the (labeled) test set. */
  fixmatchConfidence: ConfidenceReport;
}

/**
 * The share of images whose max softmax reaches τ (coverage: FixMatch's mask rate on clean images) and the
 * accuracy of those confident predictions (precision: how right the pseudo-labels are), overall and per
 * class. The unlabeled pool has no labels to check against, so the test set, drawn from the same
 * distribution, stands in for it.
 */
export interface ConfidenceReport {
  coverage: number;
  precision: number;
  perClass: { coverage: number; precision: number }[];
}

function confidenceReport(
  runtime: FixMatchRuntime,
  test: { images: tf.Tensor4D; labels: Int32Array },
  threshold: number,
  numClasses: number,
): ConfidenceReport {
  const { encoder, classifier } = runtime.fixmatch.student;
  const count = test.labels.length;
  // Per class: images, confident ones, confident and right.
  const total = new Int32Array(numClasses);
  const covered = new Int32Array(numClasses);
  const right = new Int32Array(numClasses);
  for (let start = 0; start < count; start += 500) {
    const size = Math.min(500, count - start);
    const [maxProbability, argmax] = tf.tidy(() => {
      const chunk = tf.slice(test.images, [start, 0, 0, 0], [size, -1, -1, -1]);
      const probabilities = tf.softmax(classifier.apply(encoder.features(chunk, { training: false })) as tf.Tensor2D);
      return [tf.max(probabilities, 1), tf.argMax(probabilities, 1)];
    });
    const maxValues = maxProbability.dataSync();
    const predicted = argmax.dataSync();
    tf.dispose([maxProbability, argmax]);
    for (let i = 0; i < size; i++) {
      const label = test.labels[start + i];
      total[label]++;
      if (maxValues[i] < threshold) continue;
      covered[label]++;
      if (predicted[i] === label) right[label]++;
    }
  }
  const ratio = (numerator: number, denominator: number): number => (denominator === 0 ? 0 : numerator / denominator);
  const sum = (counts: Int32Array): number => counts.reduce((a, b) => a + b, 0);
  return {
    coverage: ratio(sum(covered), count),
    precision: ratio(sum(right), sum(covered)),
    perClass: Array.from(total, (images, label) => ({
      coverage: ratio(covered[label], images),
      precision: ratio(right[label], covered[label]),
    })),
  };
}

export const DEFAULTS: FixMatchExperimentOptions = {
  source: 'auto',
  labelsPerClass: 10,
  seeds: [0, 1, 2],
  steps: 2000,
  batchSize: 32,
  unlabeledRatio: 7,
  threshold: 0.95,
  lr: 0.03,
  emaDecay: 0.999,
  cutoutSize: 0.5,
  magnitude: 'random',
  channels: [32, 64, 128],
  convsPerStage: 1,
  logEvery: 100,
};

function accuracy(predictions: tf.Tensor1D, labels: Int32Array): number {
  const predicted = predictions.dataSync();
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / labels.length;
}

async function runOne(
  mode: 'fixmatch' | 'supervised',
  data: { labeled: ImageDataset; unlabeled: ImageDataset },
  test: { images: tf.Tensor4D; labels: Int32Array },
  seed: number,
  options: FixMatchExperimentOptions,
): Promise<{ accuracy: number; studentAccuracy: number; seconds: number; maskRates: number[]; confidence?: ConfidenceReport }> {
  const registry = createRegistry().use(semisup());
  const method = registry.create('semisup:fixmatch', {
    threshold: options.threshold,
    unlabeledRatio: options.unlabeledRatio,
    unlabeledWeight: mode === 'fixmatch' ? 1 : 0,
    emaDecay: options.emaDecay,
    augment:
      options.magnitude === 'random'
        ? { cutoutSize: options.cutoutSize }
        : { cutoutSize: options.cutoutSize, magnitude: options.magnitude },
  });
  const encoder: EncoderSpec = {
    kind: 'cnn',
    inputShape: data.labeled.shape,
    channels: options.channels,
    convsPerStage: options.convsPerStage,
  };
  const maskRates: number[] = [];
  const logger: TrainCallback = {
    name: 'log',
    onStepEnd(record) {
      if (record.metrics.maskRate !== undefined) maskRates.push(record.metrics.maskRate);
      if (options.logEvery > 0 && (record.step + 1) % options.logEvery === 0) {
        const metrics = Object.entries(record.metrics)
          .map(([k, v]) => `${k} ${v.toFixed(3)}`)
          .join(', ');
        console.log(
          `  [${mode} seed ${seed}] step ${record.step + 1}/${options.steps} loss ${record.loss.toFixed(4)} lr ${record.lr.toFixed(4)} ${metrics} (${record.seconds.toFixed(2)} s/step)`,
        );
      }
    },
  };
  const started = performance.now();
  const result = await train({
    method,
    data,
    encoder,
    epochs: 100_000,
    maxSteps: options.steps,
    batchSize: options.batchSize,
    optimizer: { lr: options.lr },
    seed,
    callbacks: [logger],
  });
  const seconds = (performance.now() - started) / 1000;
  const score = (model: 'ema' | 'student'): number => {
    const predictions = classify(result.runtime, test.images, { model });
    const value = accuracy(predictions, test.labels);
    predictions.dispose();
    return value;
  };
  const emaAccuracy = score('ema');
  const studentAccuracy = score('student');
  // Only FixMatch's mask is of interest; the supervised-only run has no unlabeled loss to gate.
  const confidence =
    mode === 'fixmatch'
      ? confidenceReport(result.runtime as FixMatchRuntime, test, options.threshold, data.labeled.numClasses ?? 10)
      : undefined;
  result.dispose();
  return { accuracy: emaAccuracy, studentAccuracy, seconds, maskRates, confidence };
}

export async function runFixMatchExperiment(partial: Partial<FixMatchExperimentOptions> = {}): Promise<SeedResult[]> {
  const options = { ...DEFAULTS, ...partial };
  const trainSet = await loadFashionMnist({ split: 'train', source: options.source });
  const testSet = await loadFashionMnist({ split: 'test', source: options.source });
  const testBatch = gatherBatch(
    testSet,
    Array.from({ length: testSet.size }, (_, i) => i),
  );
  const test = { images: testBatch.images, labels: testSet.labels as Int32Array };
  const results: SeedResult[] = [];
  try {
    for (const seed of options.seeds) {
      const data = labeledSplit(trainSet, { perClass: options.labelsPerClass, seed });
      const fixmatchRun = await runOne('fixmatch', data, test, seed, options);
      const supervisedRun = await runOne('supervised', data, test, seed, options);
      const tail = fixmatchRun.maskRates.slice(Math.floor(fixmatchRun.maskRates.length * 0.9));
      const seedResult: SeedResult = {
        seed,
        fixmatch: fixmatchRun.accuracy,
        supervised: supervisedRun.accuracy,
        fixmatchStudent: fixmatchRun.studentAccuracy,
        supervisedStudent: supervisedRun.studentAccuracy,
        fixmatchSeconds: fixmatchRun.seconds,
        supervisedSeconds: supervisedRun.seconds,
        finalMaskRate: tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length),
        fixmatchConfidence: fixmatchRun.confidence as ConfidenceReport,
      };
      results.push(seedResult);
      console.log(
        `seed ${seed}: FixMatch ${(100 * seedResult.fixmatch).toFixed(2)}% (student ${(100 * seedResult.fixmatchStudent).toFixed(2)}%, ${seedResult.fixmatchSeconds.toFixed(0)} s, final mask rate ${seedResult.finalMaskRate.toFixed(2)}), ` +
          `supervised ${(100 * seedResult.supervised).toFixed(2)}% (student ${(100 * seedResult.supervisedStudent).toFixed(2)}%, ${seedResult.supervisedSeconds.toFixed(0)} s)`,
      );
      const names = testSet.classNames ?? [];
      const percent = (value: number): string => (100 * value).toFixed(0);
      const { coverage, precision, perClass } = seedResult.fixmatchConfidence;
      console.log(
        `  FixMatch student on the test set at τ ${options.threshold}: confident on ${percent(coverage)}%, ${percent(precision)}% of those right; per class (confident / right): ` +
          perClass.map((row, label) => `${names[label] ?? label} ${percent(row.coverage)}/${percent(row.precision)}`).join(', '),
      );
    }
  } finally {
    tf.dispose([testBatch.images, testBatch.labels as tf.Tensor]);
  }
  return results;
}

function meanStd(values: number[]): string {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return `${(100 * mean).toFixed(2)} ± ${(100 * Math.sqrt(variance)).toFixed(2)}`;
}

export function summaryTable(results: SeedResult[], options: FixMatchExperimentOptions): string {
  const lines = [
    `| method | labels | steps | test top-1 (%) mean ± std over ${results.length} seed(s) | minutes per run |`,
    '|---|---|---|---|---|',
    `| FixMatch (τ ${options.threshold}, μ ${options.unlabeledRatio}) | ${options.labelsPerClass * 10} | ${options.steps} | ${meanStd(results.map((r) => r.fixmatch))} | ${(results.reduce((a, r) => a + r.fixmatchSeconds, 0) / results.length / 60).toFixed(1)} |`,
    `| supervised only (λu = 0) | ${options.labelsPerClass * 10} | ${options.steps} | ${meanStd(results.map((r) => r.supervised))} | ${(results.reduce((a, r) => a + r.supervisedSeconds, 0) / results.length / 60).toFixed(1)} |`,
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  // `pnpm start -- --flag` forwards the `--` itself; parseArgs would take everything after it as positional.
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: {
      source: { type: 'string', default: DEFAULTS.source },
      'labels-per-class': { type: 'string', default: String(DEFAULTS.labelsPerClass) },
      seeds: { type: 'string', default: DEFAULTS.seeds.join(',') },
      steps: { type: 'string', default: String(DEFAULTS.steps) },
      'batch-size': { type: 'string', default: String(DEFAULTS.batchSize) },
      ratio: { type: 'string', default: String(DEFAULTS.unlabeledRatio) },
      threshold: { type: 'string', default: String(DEFAULTS.threshold) },
      lr: { type: 'string', default: String(DEFAULTS.lr) },
      'ema-decay': { type: 'string', default: String(DEFAULTS.emaDecay) },
      channels: { type: 'string', default: DEFAULTS.channels.join(',') },
      'convs-per-stage': { type: 'string', default: String(DEFAULTS.convsPerStage) },
      cutout: { type: 'string', default: String(DEFAULTS.cutoutSize) },
      magnitude: { type: 'string', default: String(DEFAULTS.magnitude) },
      'log-every': { type: 'string', default: String(DEFAULTS.logEvery) },
    },
  });
  const options: FixMatchExperimentOptions = {
    source: values.source,
    labelsPerClass: Number(values['labels-per-class']),
    seeds: values.seeds.split(',').map(Number),
    steps: Number(values.steps),
    batchSize: Number(values['batch-size']),
    unlabeledRatio: Number(values.ratio),
    threshold: Number(values.threshold),
    lr: Number(values.lr),
    emaDecay: Number(values['ema-decay']),
    channels: values.channels.split(',').map(Number),
    convsPerStage: Number(values['convs-per-stage']),
    cutoutSize: Number(values.cutout),
    magnitude: values.magnitude === 'random' ? 'random' : Number(values.magnitude),
    logEvery: Number(values['log-every']),
  };
  await initBackend();
  const started = performance.now();
  const results = await runFixMatchExperiment(options);
  console.log(`\n${summaryTable(results, options)}\n\nwall time ${((performance.now() - started) / 60000).toFixed(1)} min`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
