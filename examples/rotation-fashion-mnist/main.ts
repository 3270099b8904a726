// RotNet (Gidaris et al. 2018) on Fashion-MNIST: train the rotation pretext task, then compare the trained
// encoder with the same encoder at random init and with raw pixels, by kNN and linear probes.
// Run: pnpm --filter @ssl-examples/rotation-fashion-mnist start [-- --epochs 3 --data full|sample --out dir]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEncoder, createRegistry, describeBackend, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import type { CnnSpec, ImageDataset, PartialConfig } from '@ssl/core';
import { compareRepresentations, flattenEncoder, formatComparisonTable } from '@ssl/eval';
import type { ComparisonRow } from '@ssl/eval';
import pretext, { evaluateRotationAccuracy } from '@ssl/pretext';
import type { RotationConfig } from '@ssl/pretext';
import { argument, isMainModule } from '@ssl-examples/shared';

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

/** One row of results.json (its shape predates compareRepresentations and is kept for readers of that file). */
function representationResult(row: ComparisonRow): RepresentationResult {
  const missing = { mean: Number.NaN, std: Number.NaN };
  const { knn = missing, linear = missing } = row.fewLabels ?? {};
  return {
    name: row.name,
    featureDim: row.featureDim,
    knnAll: row.knn,
    linearAll: row.linear,
    knn10PerClass: { mean: knn.mean, std: knn.std },
    linear10PerClass: { mean: linear.mean, std: linear.std },
  };
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
  const randomInit = createEncoder(encoderSpec);
  // kNN: k = 200, exp(cos/0.07)-weighted votes (Wu et al. 2018), the SSL-literature default.
  const knn = { k: 200, weighting: 'exp' } as const;
  const compared = await compareRepresentations({
    candidates: [
      { name: 'RotNet encoder (trained)', encoder: run.encoder },
      { name: 'Same encoder, random init', encoder: randomInit },
      { name: 'Raw pixels', encoder: flattenEncoder() },
    ],
    train: trainSet,
    test: testSet,
    extract: { batchSize: 500 },
    knn,
    fewLabels: { perClass: 10, seeds, methods: ['knn', 'linear'], knn },
    onRow: (row, seconds) => log(`evaluated ${row.name} (${row.featureDim} features) in ${seconds.toFixed(0)} s`),
  });
  randomInit.model.dispose();
  // Only the trained encoder has a rotation head.
  const rotationAccuracy = await evaluateRotationAccuracy(run.encoder, head, testSet);
  const rows = compared.map(representationResult);
  rows[0].rotationAccuracy = rotationAccuracy;
  const table = formatComparisonTable(
    compared.map((row, index) => ({ ...row, rotationAccuracy: rows[index].rotationAccuracy })),
    {
      headers: { knn: 'kNN (k=200), all labels' },
      extraColumns: [
        { header: 'Rotation acc. (test)', cell: (row) => (row.rotationAccuracy === undefined ? '—' : (100 * row.rotationAccuracy).toFixed(1)) },
      ],
    },
  );
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

function numberArgument(name: string): number | undefined {
  const value = argument(name);
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new Error(`--${name} expects a number, got ${value}`);
  return parsed;
}

if (isMainModule(import.meta.url)) {
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
