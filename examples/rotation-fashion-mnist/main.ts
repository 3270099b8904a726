// RotNet (Gidaris et al. 2018) on Fashion-MNIST: train the rotation pretext task, then compare the trained
// encoder with the same encoder at random init and with raw pixels, by kNN and linear probes.
// Run: pnpm --filter @ssl-examples/rotation-fashion-mnist start [-- --epochs 3 --data full|sample --out dir]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEncoder, createRegistry, describeBackend, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import type { CnnSpec, ImageDataset, PartialConfig } from '@ssl/core';
import { extractFeatures, flattenEncoder, knnClassify, labelFractionEval, linearProbe } from '@ssl/eval';
import type { FeatureEncoder, FeatureSet } from '@ssl/eval';
import pretext, { evaluateRotationAccuracy } from '@ssl/pretext';
import type { RotationConfig } from '@ssl/pretext';

export interface RotationExampleOptions {
  epochs?: number;
  /** 'full' (default): the 60 000/10 000 Fashion-MNIST (Debian's dataset-fashion-mnist, SSL_DATA_DIR, cache or download); 'sample': the bundled 3000/1000 subset. */
  data?: 'full' | 'sample';
  /** Run directory: the training run (metrics, checkpoints, encoder) and results.json. */
  out?: string;
  batchSize?: number;
  /** Base learning rate (the method's SGD recipe otherwise). */
  lr?: number;
  /** CNN stage widths; default [32, 64, 128]. */
  channels?: number[];
  /** Method config overrides (head, augmentation). */
  method?: PartialConfig<RotationConfig>;
  /** Pretrain on the first N train images only (evaluation still uses the whole train split, or trainLimit). */
  pretrainLimit?: number;
  /** Use only the first N train / test images everywhere (quick runs and the example's test). */
  trainLimit?: number;
  testLimit?: number;
  maxSteps?: number;
  /** Seeds of the 10-labels-per-class subsets; default 5 seeds. */
  labelSeeds?: number[];
  seed?: number;
  log?: (line: string) => void;
}

export interface Summary {
  mean: number;
  std: number;
}

export interface RepresentationResult {
  name: string;
  featureDim: number;
  knnAll: number;
  linearAll: number;
  knn10PerClass: Summary;
  linear10PerClass: Summary;
  /** 4-way rotation accuracy on the test set (only the trained encoder has a rotation head). */
  rotationAccuracy?: number;
}

export interface RotationExampleResult {
  config: Record<string, unknown>;
  trainSeconds: number;
  steps: number;
  finalLoss: number;
  finalTrainRotationAccuracy: number;
  rows: RepresentationResult[];
  table: string;
}

const here = dirname(fileURLToPath(import.meta.url));

function firstImages(dataset: ImageDataset, limit: number | undefined): ImageDataset {
  if (limit === undefined || limit >= dataset.size) return dataset;
  return subset(dataset, Array.from({ length: limit }, (_, i) => i));
}

function percent(value: number): string {
  return (100 * value).toFixed(1);
}

function meanStd(s: Summary): string {
  return `${percent(s.mean)} ± ${percent(s.std)}`;
}

async function evaluate(
  name: string,
  encoder: FeatureEncoder,
  trainSet: ImageDataset,
  testSet: ImageDataset,
  seeds: number[],
  log: (line: string) => void,
): Promise<RepresentationResult> {
  const started = performance.now();
  const trainFeatures: FeatureSet = await extractFeatures(encoder, trainSet, { batchSize: 500 });
  const testFeatures: FeatureSet = await extractFeatures(encoder, testSet, { batchSize: 500 });
  // kNN: k = 200, exp(cos/0.07)-weighted votes (Wu et al. 2018), the SSL-literature default.
  const knnAll = (await knnClassify(trainFeatures, testFeatures, { k: 200, weighting: 'exp' })).top1;
  const linearAll = (await linearProbe(trainFeatures, testFeatures)).top1;
  const [knn10] = await labelFractionEval(trainFeatures, testFeatures, { perClass: [10], seeds, method: 'knn', knn: { k: 200, weighting: 'exp' } });
  const [linear10] = await labelFractionEval(trainFeatures, testFeatures, { perClass: [10], seeds, method: 'linear' });
  log(`evaluated ${name} (${trainFeatures.dim} features) in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return {
    name,
    featureDim: trainFeatures.dim,
    knnAll,
    linearAll,
    knn10PerClass: { mean: knn10.top1.mean, std: knn10.top1.std },
    linear10PerClass: { mean: linear10.top1.mean, std: linear10.top1.std },
  };
}

export function resultsTable(rows: readonly RepresentationResult[], seeds: number): string {
  const lines = [
    `| Representation | kNN (k=200), all labels | Linear, all labels | kNN, 10 labels/class (${seeds} seeds) | Linear, 10 labels/class (${seeds} seeds) | Rotation acc. (test) |`,
    '|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.name} | ${percent(row.knnAll)} | ${percent(row.linearAll)} | ${meanStd(row.knn10PerClass)} | ${meanStd(row.linear10PerClass)} | ${row.rotationAccuracy === undefined ? '—' : percent(row.rotationAccuracy)} |`,
    );
  }
  return lines.join('\n');
}

export async function runRotationExample(options: RotationExampleOptions = {}): Promise<RotationExampleResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const info = await initBackend({ log: () => {} });
  log(`backend: ${describeBackend(info)}`);
  const data = options.data ?? 'full';
  const trainSet = firstImages(await loadFashionMnist({ split: 'train', source: data }), options.trainLimit);
  const testSet = firstImages(await loadFashionMnist({ split: 'test', source: data }), options.testLimit);
  const seed = options.seed ?? 0;
  const seeds = options.labelSeeds ?? [0, 1, 2, 3, 4];
  // A fixed encoder seed: "random init" below is exactly the network training started from.
  const encoderSpec: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: options.channels ?? [32, 64, 128], batchNorm: true, seed: seed + 1 };
  const out = resolve(options.out ?? join(here, 'runs', 'latest'));
  mkdirSync(out, { recursive: true });

  const pretrainSet = firstImages(trainSet, options.pretrainLimit);
  const registry = createRegistry().use(pretext());
  const method = registry.create('pretext:rotation', options.method ?? {});
  const epochs = options.epochs ?? 3;
  const batchSize = options.batchSize ?? 128;
  log(`training pretext:rotation on ${pretrainSet.name} (${pretrainSet.size} images, ${epochs} epochs, batch ${batchSize} → ${4 * batchSize} rotated)`);
  const started = performance.now();
  const run = await train({
    method,
    data: pretrainSet,
    encoder: encoderSpec,
    epochs,
    maxSteps: options.maxSteps,
    batchSize,
    optimizer: options.lr === undefined ? undefined : { lr: options.lr },
    seed,
    outDir: join(out, 'run'),
    checkpointEvery: { epochs: 1 },
    callbacks: [
      {
        name: 'progress',
        onStepEnd(record) {
          if (record.step % 50 === 0) {
            log(`step ${record.step} epoch ${record.epoch}: loss ${record.loss.toFixed(3)}, rotation acc ${record.metrics.rotationAccuracy.toFixed(3)}, lr ${record.lr.toPrecision(2)}, ${record.imagesPerSecond.toFixed(0)} img/s`);
          }
        },
      },
    ],
  });
  const trainSeconds = (performance.now() - started) / 1000;
  const last = run.history[run.history.length - 1];
  log(`trained ${run.steps} steps in ${trainSeconds.toFixed(0)} s; last loss ${last.loss.toFixed(3)}, rotation acc ${last.metrics.rotationAccuracy.toFixed(3)}`);

  const head = run.runtime.trainable.head;
  const trained = await evaluate('RotNet encoder (trained)', run.encoder, trainSet, testSet, seeds, log);
  trained.rotationAccuracy = await evaluateRotationAccuracy(run.encoder, head, testSet);
  const randomInit = createEncoder(encoderSpec);
  const random = await evaluate('Same encoder, random init', randomInit, trainSet, testSet, seeds, log);
  const pixels = await evaluate('Raw pixels', flattenEncoder(), trainSet, testSet, seeds, log);
  randomInit.model.dispose();
  const rows = [trained, random, pixels];
  const table = resultsTable(rows, seeds.length);
  const result: RotationExampleResult = {
    config: {
      data,
      pretrainImages: pretrainSet.size,
      trainImages: trainSet.size,
      testImages: testSet.size,
      epochs,
      batchSize,
      steps: run.steps,
      encoder: encoderSpec,
      method: method.config,
      optimizer: options.lr === undefined ? 'method default (SGD lr 0.1, momentum 0.9, wd 5e-4)' : { lr: options.lr },
      seed,
      backend: describeBackend(info),
    },
    trainSeconds,
    steps: run.steps,
    finalLoss: last.loss,
    finalTrainRotationAccuracy: last.metrics.rotationAccuracy,
    rows,
    table,
  };
  writeFileSync(join(out, 'results.json'), `${JSON.stringify(result, null, 2)}\n`);
  run.dispose();
  return result;
}

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function numberArgument(name: string): number | undefined {
  const value = argument(name);
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new Error(`--${name} expects a number, got ${value}`);
  return parsed;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const data = argument('data') ?? 'full';
  if (data !== 'full' && data !== 'sample') throw new Error(`--data expects full or sample, got ${data}`);
  const headInput = argument('head-input');
  const result = await runRotationExample({
    epochs: numberArgument('epochs'),
    data,
    out: argument('out'),
    batchSize: numberArgument('batch-size'),
    lr: numberArgument('lr'),
    channels: argument('channels')?.split(',').map(Number),
    trainLimit: numberArgument('train-limit'),
    pretrainLimit: numberArgument('pretrain-limit'),
    method: {
      ...(headInput ? { headInput: headInput as RotationConfig['headInput'] } : {}),
      ...(argument('head-hidden-layers') ? { headHiddenLayers: Number(argument('head-hidden-layers')) as 0 | 1 | 2 } : {}),
      ...(argument('augment') ? { augment: argument('augment') === 'true' } : {}),
    },
  });
  console.log(`\n${result.table}\n`);
  console.log(`results: ${resolve(argument('out') ?? join(here, 'runs', 'latest'), 'results.json')}`);
}
