import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, gatherBatch, initBackend, labeledSplit, loadFashionMnist, train } from '@ssl/core';
import type { EncoderSpec, MethodRuntime } from '@ssl/core';
import { semisup } from '../plugin';
import {
  BENCHMARK_ROWS,
  appendResult,
  gridPlan,
  issuePlan,
  pendingRuns,
  readResults,
  replaceBetweenMarkers,
  resultsTable,
  runKey,
} from './plan';
import type { BenchmarkResult, BenchmarkRun, BenchmarkSettings } from './plan';

/*
 * Usage (from the repository root):
 *   node --conditions=@ssl/source --import tsx packages/semisup/src/benchmark/benchmark.ts \
 *     --results runs/semisup-benchmark/results.jsonl --readme packages/semisup/README.md
 * runs issue 32's plan on the full Fashion-MNIST, one configuration per child process, and rewrites the
 * table after each one. --rows, --labels and --seeds run a grid instead; --data sample --steps 20 tries
 * the script in a minute.
 */

const CHILD_FLAG = '--run';

interface ChildArgs {
  readonly run: BenchmarkRun;
  readonly settings: BenchmarkSettings;
  readonly results: string;
}

/** Epochs of each round for a multi-round method: whole epochs, as many as fit in `steps` over all rounds (at least 1). */
function epochsPerRound(steps: number, rounds: number, unlabeledSize: number, unlabeledBatch: number): number {
  const stepsPerEpoch = Math.floor(unlabeledSize / unlabeledBatch);
  return Math.max(1, Math.floor(steps / (rounds * stepsPerEpoch)));
}

/** Trains one configuration and appends its result: what a child process does. */
async function runOne({ run, settings, results }: ChildArgs): Promise<void> {
  await initBackend({ log: () => {} });
  const row = BENCHMARK_ROWS[run.row];
  const source = settings.data === 'sample' ? 'sample' : 'auto';
  const trainSet = await loadFashionMnist({ split: 'train', source });
  const testSet = await loadFashionMnist({ split: 'test', source });
  // Balanced: labels / 10 per class, drawn with the run's seed (the same split for every method).
  const data = labeledSplit(trainSet, { perClass: run.labels / 10, seed: run.seed });
  const method = createRegistry()
    .use(semisup())
    .create(row.method as never, row.config as never);
  const rounds = method.definition.rounds?.(method.config) ?? 1;
  const unlabeledBatch = settings.batchSize * (method.definition.unlabeledRatio?.(method.config) ?? 1);
  // Multi-round methods run whole epochs in every round (a cap would cut the last round short): as many as
  // fit in the steps, at least one, so a long epoch can take them past `steps` (stepsRun says by how much).
  const epochs = rounds > 1 ? epochsPerRound(settings.steps, rounds, data.unlabeled.size, unlabeledBatch) : 1_000_000;
  const maxSteps = rounds > 1 ? undefined : settings.steps;
  const encoder: EncoderSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [...settings.channels] };
  const started = performance.now();
  const result = await train({
    method,
    data,
    encoder,
    batchSize: settings.batchSize,
    epochs,
    maxSteps,
    seed: run.seed,
    optimizer: { lr: settings.lr },
  });
  const seconds = (performance.now() - started) / 1000;
  try {
    const accuracy = testAccuracy(result.runtime, testSet);
    const record: BenchmarkResult = {
      ...run,
      key: runKey(run, settings),
      method: row.method,
      accuracy,
      stepsRun: result.history.length,
      seconds,
      finishedAt: new Date().toISOString(),
    };
    appendResult(results, record);
    console.log(
      `${record.key}: top-1 ${(100 * accuracy).toFixed(2)}% in ${(seconds / 60).toFixed(1)} min (${record.stepsRun} steps, ${((1000 * seconds) / record.stepsRun).toFixed(0)} ms/step)`,
    );
  } finally {
    result.dispose();
  }
}

/** Top-1 of the run's reported classifier on the whole test split, 500 images at a time. */
function testAccuracy(runtime: MethodRuntime, testSet: Awaited<ReturnType<typeof loadFashionMnist>>): number {
  const classifier = runtime.classifier;
  if (!classifier) throw new Error('This run reports no classifier (runtime.classifier).');
  const classNames = Array.from({ length: 10 }, (_, k) => String(k));
  let right = 0;
  for (let start = 0; start < testSet.size; start += 500) {
    const ids = Array.from({ length: Math.min(500, testSet.size - start) }, (_, i) => start + i);
    const batch = gatherBatch(testSet, ids);
    const predicted = tf.tidy(() => tf.argMax(classifier.probabilities(batch.images, classNames), 1).dataSync());
    tf.dispose(batch.images);
    predicted.forEach((p, i) => (right += p === testSet.labels![ids[i]] ? 1 : 0));
  }
  return right / testSet.size;
}

/** Runs `args` in a child process of this script with the parent's loader flags; resolves with its exit code. */
function runChild(args: ChildArgs): Promise<number> {
  const script = fileURLToPath(import.meta.url);
  return new Promise((done) => {
    const child = spawn(process.execPath, [...process.execArgv, script, CHILD_FLAG, JSON.stringify(args)], { stdio: 'inherit' });
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}

function writeTable(results: string, settings: BenchmarkSettings, readme: string | undefined, table: string | undefined): void {
  const text = resultsTable(readResults(results), settings);
  const header = `Fashion-MNIST (${settings.data}), CNN ${settings.channels.join('-')}, B ${settings.batchSize}, lr ${settings.lr}, ${settings.steps} steps per run; test top-1 of each method's reported classifier.`;
  writeFileSync(table ?? results.replace(/\.jsonl$/, '') + '.md', `${header}\n\n${text}\n`);
  if (readme) writeFileSync(readme, replaceBetweenMarkers(readFileSync(readme, 'utf8'), `${header}\n\n${text}`));
}

async function main(): Promise<void> {
  const childAt = process.argv.indexOf(CHILD_FLAG);
  if (childAt >= 0) return runOne(JSON.parse(process.argv[childAt + 1]) as ChildArgs);
  const args = process.argv.slice(2);
  const { values } = parseArgs({
    // `pnpm … benchmark -- --flag` hands the script a leading '--'.
    args: args[0] === '--' ? args.slice(1) : args,
    options: {
      results: { type: 'string', default: 'runs/semisup-benchmark/results.jsonl' },
      table: { type: 'string' },
      readme: { type: 'string' },
      data: { type: 'string', default: 'full' },
      steps: { type: 'string', default: '6000' },
      'batch-size': { type: 'string', default: '16' },
      channels: { type: 'string', default: '16,32,64' },
      // The full-data FixMatch figures' lr (examples/fixmatch-fashion-mnist), for every method.
      lr: { type: 'string', default: '0.1' },
      rows: { type: 'string' },
      labels: { type: 'string' },
      seeds: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  const list = (text: string) => text.split(',').map((s) => s.trim());
  const settings: BenchmarkSettings = {
    data: values.data === 'sample' ? 'sample' : 'full',
    steps: Number(values.steps),
    batchSize: Number(values['batch-size']),
    channels: list(values.channels!).map(Number),
    lr: Number(values.lr),
  };
  const rows = values.rows ? list(values.rows) : Object.keys(BENCHMARK_ROWS);
  const unknown = rows.filter((r) => !(r in BENCHMARK_ROWS));
  if (unknown.length > 0) throw new Error(`Unknown rows ${unknown.join(', ')}; rows: ${Object.keys(BENCHMARK_ROWS).join(', ')}.`);
  const plan =
    values.labels || values.seeds
      ? gridPlan(rows, list(values.labels ?? '100').map(Number), list(values.seeds ?? '0').map(Number))
      : issuePlan(rows);
  const results = resolve(values.results!);
  const pending = pendingRuns(plan, readResults(results), settings);
  console.log(`${plan.length - pending.length} of ${plan.length} configurations done (${results}); ${pending.length} to run.`);
  if (values['dry-run']) {
    pending.forEach((run) => console.log(`  ${runKey(run, settings)}`));
    return;
  }
  let failures = 0;
  for (const run of pending) {
    const code = await runChild({ run, settings, results });
    if (code !== 0) {
      failures += 1;
      console.error(`${runKey(run, settings)}: the child exited with ${code}; it reruns next time.`);
    }
    writeTable(results, settings, values.readme && resolve(values.readme), values.table && resolve(values.table));
  }
  writeTable(results, settings, values.readme && resolve(values.readme), values.table && resolve(values.table));
  if (failures > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
