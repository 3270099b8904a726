// BYOL on Fashion-MNIST: train a small CNN (with batch norm), then compare the trained encoder with the
// same encoder at random init and with raw pixels, by kNN and linear probes (all labels, 10 per class).
// Run: pnpm --filter @ssl-examples/byol-fashion-mnist start -- [--epochs 3] [--data full|sample] [--out runs/byol]
//      [--limit N] [--batch-size 64] [--lr 3e-3] [--base-momentum 0.99] [--seed 0]
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEncoder, createRegistry, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import type { CnnSpec, Encoder, ImageDataset } from '@ssl/core';
import noncontrastive from '@ssl/noncontrastive';
import { extractFeatures, flattenEncoder, knnClassify, labelFractionEval, linearProbe } from '@ssl/eval';
import type { FeatureEncoder } from '@ssl/eval';

export interface ByolExampleOptions {
  epochs?: number;
  /** 'full': the 60k/10k Fashion-MNIST (Debian copy, cache or download); 'sample': the 3000/1000 bundled with @ssl/core. */
  data?: 'full' | 'sample';
  /** Train on the first `limit` training images only (quick recipe comparisons); evaluation uses all of them. */
  limit?: number;
  out?: string;
  batchSize?: number;
  lr?: number;
  /** τ_base of the target EMA. */
  baseMomentum?: number;
  seed?: number;
  /** Seeds of the 10-labels-per-class probe (default 5). */
  fewLabelSeeds?: number;
  log?: (line: string) => void;
}

export interface EncoderScores {
  knn: number;
  linear: number;
  linear10PerClass: { mean: number; std: number };
}

export interface ByolExampleResult {
  method: string;
  data: string;
  epochs: number;
  steps: number;
  trainSeconds: number;
  evalSeconds: number;
  loadAverage: number;
  encoder: CnnSpec;
  results: { trained: EncoderScores; randomInit: EncoderScores; rawPixels: EncoderScores };
  markdown: string;
}

/** The backbone of the recipe: three conv stages with batch norm (see README). The seed fixes the random-init baseline. */
export const ENCODER: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [32, 64, 128], batchNorm: true, seed: 1234 };

async function scores(encoder: FeatureEncoder, train: ImageDataset, test: ImageDataset, seeds: number): Promise<EncoderScores> {
  const trainFeatures = await extractFeatures(encoder, train);
  const testFeatures = await extractFeatures(encoder, test);
  const knn = (await knnClassify(trainFeatures, testFeatures, { k: 200, weighting: 'exp' })).top1;
  const linear = (await linearProbe(trainFeatures, testFeatures, { weightDecay: 1e-4 })).top1;
  const [few] = await labelFractionEval(trainFeatures, testFeatures, {
    perClass: [10],
    seeds: Array.from({ length: seeds }, (_, i) => i),
    method: 'linear',
    linear: { weightDecay: 1e-2 },
  });
  return { knn, linear, linear10PerClass: { mean: few.top1.mean, std: few.top1.std } };
}

export function markdownTable(results: ByolExampleResult['results']): string {
  const pct = (x: number) => (100 * x).toFixed(1);
  const row = (name: string, s: EncoderScores) =>
    `| ${name} | ${pct(s.knn)} | ${pct(s.linear)} | ${pct(s.linear10PerClass.mean)} ± ${pct(s.linear10PerClass.std)} |`;
  return [
    '| features | kNN (k=200, weighted) | linear probe, all labels | linear probe, 10 labels/class (5 seeds) |',
    '|---|---|---|---|',
    row('BYOL (trained)', results.trained),
    row('same encoder, random init', results.randomInit),
    row('raw pixels', results.rawPixels),
  ].join('\n');
}

export async function runByolExample(options: ByolExampleOptions = {}): Promise<ByolExampleResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  await initBackend();
  const source = options.data ?? 'full';
  const trainSet = await loadFashionMnist({ split: 'train', source });
  const testSet = await loadFashionMnist({ split: 'test', source });
  const trainOn = options.limit && options.limit < trainSet.size ? subset(trainSet, Array.from({ length: options.limit }, (_, i) => i), `${trainSet.name}-${options.limit}`) : trainSet;
  const method = createRegistry()
    .use(noncontrastive())
    .create('noncontrastive:byol', options.baseMomentum !== undefined ? { baseMomentum: options.baseMomentum } : {});
  const epochs = options.epochs ?? 3;
  log(`BYOL on ${trainOn.name} (${trainOn.size} images), ${epochs} epochs, encoder ${JSON.stringify(ENCODER.channels)}`);
  const started = performance.now();
  const run = await train({
    method,
    data: trainOn,
    encoder: ENCODER,
    epochs,
    batchSize: options.batchSize ?? 64,
    seed: options.seed ?? 0,
    ...(options.lr !== undefined ? { optimizer: { lr: options.lr } } : {}),
    outDir: options.out,
    callbacks: [
      {
        name: 'progress',
        onEpochEnd: ({ epoch, step }) => log(`epoch ${epoch + 1}/${epochs}: step ${step}, ${((performance.now() - started) / 1000).toFixed(0)} s`),
      },
    ],
  });
  const trainSeconds = (performance.now() - started) / 1000;
  const evalStarted = performance.now();
  const seeds = options.fewLabelSeeds ?? 5;
  const randomInit: Encoder = createEncoder(ENCODER);
  const results = {
    trained: await scores(run.encoder, trainSet, testSet, seeds),
    randomInit: await scores(randomInit, trainSet, testSet, seeds),
    rawPixels: await scores(flattenEncoder(), trainSet, testSet, seeds),
  };
  randomInit.model.dispose();
  const result: ByolExampleResult = {
    method: method.id,
    data: `${trainOn.name} → ${testSet.name}`,
    epochs,
    steps: run.steps,
    trainSeconds,
    evalSeconds: (performance.now() - evalStarted) / 1000,
    loadAverage: loadavg()[0],
    encoder: ENCODER,
    results,
    markdown: markdownTable(results),
  };
  run.dispose();
  if (options.out) {
    mkdirSync(options.out, { recursive: true });
    writeFileSync(join(options.out, 'results.json'), JSON.stringify(result, null, 2));
  }
  return result;
}

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function numberArgument(name: string): number | undefined {
  const value = argument(name);
  return value === undefined ? undefined : Number(value);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const data = argument('data') ?? 'full';
  if (data !== 'full' && data !== 'sample') throw new Error(`--data must be 'full' or 'sample', got ${data}`);
  const result = await runByolExample({
    epochs: numberArgument('epochs'),
    data,
    limit: numberArgument('limit'),
    out: argument('out') ?? 'runs/byol',
    batchSize: numberArgument('batch-size'),
    lr: numberArgument('lr'),
    baseMomentum: numberArgument('base-momentum'),
    seed: numberArgument('seed'),
  });
  console.log(`\ntrain ${result.trainSeconds.toFixed(0)} s (${result.steps} steps), eval ${result.evalSeconds.toFixed(0)} s, load ${result.loadAverage.toFixed(1)}\n`);
  console.log(result.markdown);
}
