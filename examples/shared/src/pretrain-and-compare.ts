import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createEncoder, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import type { CnnSpec, Encoder, MethodHandle } from '@ssl/core';
import { compareRepresentations, flattenEncoder, formatComparisonTable } from '@ssl/eval';
import type { ComparisonRow } from '@ssl/eval';

/*
 * The run behind the SimCLR and BYOL Fashion-MNIST examples: pre-train one method on a small CNN, then compare
 * the trained encoder with the same encoder at random init and with raw pixels (kNN, linear probe with all
 * labels and with 10 labels per class). Each example supplies the method and its own defaults.
 */

export interface PretrainAndCompareOptions {
  epochs?: number;
  /** 'full': the 60k/10k Fashion-MNIST (Debian copy, cache or download); 'sample': the 3000/1000 bundled with @ssl/core. */
  data?: 'full' | 'sample';
  /** Train on the first `limit` training images only (quick recipe comparisons); evaluation uses all of them. */
  limit?: number;
  out?: string;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** CNN stage widths instead of ENCODER's [32, 64, 128] (the random-init baseline uses the same). */
  channels?: number[];
  /** Seeds of the 10-labels-per-class probe (default 5). */
  fewLabelSeeds?: number;
  log?: (line: string) => void;
}

export interface EncoderScores {
  knn: number;
  linear: number;
  linear10PerClass: { mean: number; std: number };
}

export interface PretrainAndCompareResult {
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

export interface PretrainAndCompareSetup {
  /** The method's name in the log and the table ('SimCLR'). */
  label: string;
  /** Creates the configured method (called once the backend is up). */
  createMethod: () => MethodHandle;
  /** Batch size when the options give none. */
  defaultBatchSize: number;
  /** Epochs when the options give none (default 3). */
  defaultEpochs?: number;
}

/** One row of results.json (its shape predates compareRepresentations and is kept for readers of that file). */
function encoderScores(row: ComparisonRow): EncoderScores {
  const few = row.fewLabels?.linear ?? { mean: Number.NaN, std: Number.NaN };
  return { knn: row.knn, linear: row.linear, linear10PerClass: { mean: few.mean, std: few.std } };
}

export async function runPretrainAndCompare(setup: PretrainAndCompareSetup, options: PretrainAndCompareOptions = {}): Promise<PretrainAndCompareResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  await initBackend();
  const source = options.data ?? 'full';
  const trainSet = await loadFashionMnist({ split: 'train', source });
  const testSet = await loadFashionMnist({ split: 'test', source });
  const trainOn = options.limit && options.limit < trainSet.size ? subset(trainSet, Array.from({ length: options.limit }, (_, i) => i), `${trainSet.name}-${options.limit}`) : trainSet;
  const method = setup.createMethod();
  const encoderSpec: CnnSpec = options.channels ? { ...ENCODER, channels: options.channels } : ENCODER;
  const epochs = options.epochs ?? setup.defaultEpochs ?? 3;
  log(`${setup.label} on ${trainOn.name} (${trainOn.size} images), ${epochs} epochs, encoder ${JSON.stringify(encoderSpec.channels)}`);
  const started = performance.now();
  const run = await train({
    method,
    data: trainOn,
    encoder: encoderSpec,
    epochs,
    batchSize: options.batchSize ?? setup.defaultBatchSize,
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
  const randomInit: Encoder = createEncoder(encoderSpec);
  const rows = await compareRepresentations({
    candidates: [
      { name: `${setup.label} (trained)`, encoder: run.encoder },
      { name: 'same encoder, random init', encoder: randomInit },
      { name: 'raw pixels', encoder: flattenEncoder() },
    ],
    train: trainSet,
    test: testSet,
    knn: { k: 200, weighting: 'exp' },
    linear: { weightDecay: 1e-4 },
    fewLabels: { perClass: 10, seeds: Array.from({ length: seeds }, (_, i) => i), linear: { weightDecay: 1e-2 } },
  });
  randomInit.model.dispose();
  const [trained, random, pixels] = rows.map(encoderScores);
  const result: PretrainAndCompareResult = {
    method: method.id,
    data: `${trainOn.name} → ${testSet.name}`,
    epochs,
    steps: run.steps,
    trainSeconds,
    evalSeconds: (performance.now() - evalStarted) / 1000,
    loadAverage: loadavg()[0],
    encoder: encoderSpec,
    results: { trained, randomInit: random, rawPixels: pixels },
    markdown: formatComparisonTable(rows, {
      headers: {
        name: 'features',
        knn: 'kNN (k=200, weighted)',
        linear: 'linear probe, all labels',
        fewLinear: `linear probe, 10 labels/class (${seeds} seeds)`,
      },
    }),
  };
  run.dispose();
  if (options.out) {
    mkdirSync(options.out, { recursive: true });
    writeFileSync(join(options.out, 'results.json'), JSON.stringify(result, null, 2));
  }
  return result;
}
