import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SslError, type BackendName } from '@ssl/core';
import { ACQUISITION_STRATEGIES, activeLearning, extractFeatures, summarize, type AcquisitionStrategy, type FeatureSet } from '@ssl/eval';
import type { CliIo } from '../cli-io';
import { formatTextTable } from '../text-table';
import { openSavedEncoder } from './eval-command';

export interface ActiveCommandOptions {
  encoderPath: string;
  data: string;
  /** One strategy, or 'all' (every strategy, random first). */
  strategy: AcquisitionStrategy | 'all';
  budget: number;
  rounds: number;
  seeds: number;
  backend?: BackendName;
  out?: string;
}

/** The file `ssl active` writes: every strategy's learning curve over the seeds. */
export const ACTIVE_FILE = 'active.json';

interface StrategyCurve {
  strategy: AcquisitionStrategy;
  /** Labels after each round. */
  labels: number[];
  /** Test top-1 of the probe after each round, one array per seed. */
  accuracyBySeed: number[][];
}

/**
 * `ssl active`: pool-based active learning on a saved encoder's frozen features (@ssl/eval's `activeLearning`).
 * The oracle is --data's own labels, so this is the experiment a user runs before labelling for real: which
 * acquisition strategy reaches a given accuracy with the fewest labels, each beside random sampling.
 */
export async function runActiveCommand(io: CliIo, options: ActiveCommandOptions): Promise<void> {
  const { encoder, train, test, seed, outDir } = await openSavedEncoder(io, options, ACTIVE_FILE);
  if (options.budget * options.rounds > train.size) {
    throw new SslError(
      'invalid-config',
      `--budget ${options.budget} × --rounds ${options.rounds} asks for ${options.budget * options.rounds} labels but --data has ${train.size} pool images.`,
    );
  }
  io.stderr.write(`ssl: extracting features of ${train.size} pool and ${test.size} test images...\n`);
  const pool = await extractFeatures(encoder, train);
  const testFeatures = await extractFeatures(encoder, test);
  const strategies = options.strategy === 'all' ? [...ACQUISITION_STRATEGIES] : ['random' as const, options.strategy];
  const curves: StrategyCurve[] = [];
  for (const strategy of [...new Set(strategies)]) {
    io.stderr.write(`ssl: ${strategy}: ${options.seeds} seed(s) × ${options.rounds} rounds of ${options.budget} labels...\n`);
    curves.push(await curveOf(strategy, pool, testFeatures, train.numClasses ?? 0, { ...options, seed }));
  }
  io.stdout.write(`\n${formatCurves(curves)}`);
  await mkdir(outDir, { recursive: true });
  const summary = { pool: train.size, test: test.size, budget: options.budget, rounds: options.rounds, seeds: options.seeds, curves };
  await writeFile(join(outDir, ACTIVE_FILE), `${JSON.stringify(summary, null, 2)}\n`);
  io.stdout.write(`\nwrote ${join(outDir, ACTIVE_FILE)}\n`);
}

/** One strategy's learning curve for seeds seed … seed + seeds − 1. */
async function curveOf(
  strategy: AcquisitionStrategy,
  pool: FeatureSet,
  test: FeatureSet,
  numClasses: number,
  options: { budget: number; rounds: number; seeds: number; seed: number },
): Promise<StrategyCurve> {
  const accuracyBySeed: number[][] = [];
  for (let s = 0; s < options.seeds; s++) {
    const result = await activeLearning({
      pool,
      test,
      // The pool's own labels answer the queries: an experiment, not a labelling session.
      oracle: (indices) => indices.map((index) => pool.labels[index]),
      numClasses,
      strategy,
      budget: options.budget,
      rounds: options.rounds,
      seed: options.seed + s,
    });
    accuracyBySeed.push(result.rounds.map((round) => round.testAccuracy ?? NaN));
  }
  return { strategy, labels: Array.from({ length: options.rounds }, (_, r) => (r + 1) * options.budget), accuracyBySeed };
}

/** Rows: strategies; columns: test top-1 (mean ± std over seeds) at each label count, and the gain over random at the last. */
export function formatCurves(curves: readonly StrategyCurve[]): string {
  const random = curves.find((curve) => curve.strategy === 'random');
  const finalMean = (curve: StrategyCurve) => summarize(curve.accuracyBySeed.map((accuracies) => accuracies.at(-1)!)).mean;
  const header = ['strategy', ...curves[0].labels.map((labels) => `${labels} labels`), 'vs random'];
  const rows = curves.map((curve) => {
    const cells = curve.labels.map((_, round) => {
      const { mean, std } = summarize(curve.accuracyBySeed.map((accuracies) => accuracies[round]));
      return `${(100 * mean).toFixed(1)} ± ${(100 * std).toFixed(1)}`;
    });
    const gain = random && curve !== random ? 100 * (finalMean(curve) - finalMean(random)) : undefined;
    return [curve.strategy, ...cells, gain === undefined ? '' : `${gain >= 0 ? '+' : ''}${gain.toFixed(1)} pts`];
  });
  return formatTextTable(header, rows, { rightAligned: header.map((_, i) => i).slice(1) });
}
