/**
 * Multi-task learning on the Fashion-MNIST sample (issue 27): when does hard sharing help, when does it hurt?
 * Reads `ssl pretrain` run directories named `<combination>-s<seed>` (each with the eval.json of the shared
 * protocol: kNN, linear probe, 10 labels per class, beside the same encoder and seed at random init), writes one
 * JSONL line per run and a README table: every figure as mean ± std over seeds, and its paired difference
 * (same seed) from random init and from each task trained alone.
 *
 *   node --conditions=@ssl/source --import tsx packages/eval/scripts/multi-task-table.ts --runs /tmp/mt/runs \
 *     --combination rot-simclr --tasks rot,simclr --results packages/eval/docs/multi-task-fashion.jsonl \
 *     --readme packages/eval/README.md
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { summarize } from '../src/statistics';
import { replaceReadmeSection } from './script-helpers';

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    combination: { type: 'string' },
    tasks: { type: 'string' },
    results: { type: 'string' },
    readme: { type: 'string' },
  },
});
if (!values.runs || !values.combination || !values.tasks || !values.results) {
  throw new Error('multi-task-table: pass --runs <dir>, --combination <name>, --tasks <a,b> and --results <file.jsonl>.');
}

interface EvalRow {
  name: string;
  value: number;
  std?: number;
  randomInit: { value: number };
}

interface RunLine {
  config: string;
  seed: number;
  tasks: unknown;
  knn: number;
  linear: number;
  tenLabels: number;
  randomInit: { knn: number; linear: number; tenLabels: number };
  trainSeconds: number;
  steps: number;
  lastTaskLosses: Record<string, number>;
}

function readRun(dir: string, config: string, seed: number): RunLine {
  const evaluation = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8')) as { rows: EvalRow[] };
  const row = (prefix: string) => {
    const found = evaluation.rows.find((r) => r.name.startsWith(prefix));
    if (!found) throw new Error(`${dir}/eval.json has no "${prefix}" row`);
    return found;
  };
  const [knn, linear, few] = [row('kNN top-1'), row('linear probe top-1, all labels'), row('linear probe top-1, 10 labels')];
  const runConfig = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { config: { tasks: unknown } };
  const steps = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { type: string; seconds?: number } & Record<string, unknown>)
    .filter((record) => record.type === 'step');
  const last = steps.slice(-5);
  const lastTaskLosses: Record<string, number> = {};
  for (const key of Object.keys(last[0] ?? {}).filter((k) => k.endsWith('_loss'))) {
    lastTaskLosses[key] = last.reduce((sum, record) => sum + (record[key] as number), 0) / last.length;
  }
  return {
    config,
    seed,
    tasks: runConfig.config.tasks,
    knn: knn.value,
    linear: linear.value,
    tenLabels: few.value,
    randomInit: { knn: knn.randomInit.value, linear: linear.randomInit.value, tenLabels: few.randomInit.value },
    trainSeconds: Math.round(steps.reduce((sum, record) => sum + (record.seconds ?? 0), 0)),
    steps: steps.length,
    lastTaskLosses,
  };
}

const lines: RunLine[] = [];
for (const entry of readdirSync(values.runs).sort()) {
  const match = /^(.*)-s(\d+)$/.exec(entry);
  const dir = join(values.runs, entry);
  if (!match || !existsSync(join(dir, 'eval.json'))) continue;
  lines.push(readRun(dir, match[1], Number(match[2])));
}
writeFileSync(values.results, lines.map((line) => JSON.stringify(line)).join('\n') + '\n');

const combination = values.combination;
const tasks = values.tasks.split(',');
const seeds = [...new Set(lines.filter((line) => line.config === combination).map((line) => line.seed))].sort();
const figures = ['knn', 'tenLabels', 'linear'] as const;
const pct = (x: number) => (100 * x).toFixed(1);
const meanStd = (xs: number[]) => {
  const s = summarize(xs);
  return xs.length > 1 ? `${pct(s.mean)} ± ${pct(s.std)}` : pct(s.mean);
};
const signed = (xs: number[]) => {
  const s = summarize(xs);
  const sign = s.mean >= 0 ? '+' : '−';
  return `${sign}${pct(Math.abs(s.mean))}${xs.length > 1 ? ` ± ${pct(s.std)}` : ''}`;
};
const runOf = (config: string, seed: number) => lines.find((line) => line.config === config && line.seed === seed);
const complete = seeds.filter((seed) => [combination, ...tasks].every((config) => runOf(config, seed)));

// No time column: the runs shared a loaded machine (the JSONL keeps each run's trainSeconds).
const header = ['encoder', 'kNN', 'vs random init', '10 labels/class', 'vs random init', 'linear, all labels', 'vs random init'];
const table: string[][] = [];
for (const config of [combination, ...tasks]) {
  const runs = complete.map((seed) => runOf(config, seed) as RunLine);
  const cells = figures.flatMap((figure) => [
    meanStd(runs.map((r) => r[figure])),
    signed(runs.map((r) => r[figure] - r.randomInit[figure])),
  ]);
  table.push([config, ...cells]);
}
const randomRuns = complete.map((seed) => runOf(combination, seed) as RunLine);
table.push(['same CNN at random init', ...figures.flatMap((figure) => [meanStd(randomRuns.map((r) => r.randomInit[figure])), ''])]);
const paired = tasks.map((task) => [
  `${combination} − ${task} alone`,
  ...figures.map((figure) =>
    signed(complete.map((seed) => (runOf(combination, seed) as RunLine)[figure] - (runOf(task, seed) as RunLine)[figure])),
  ),
]);
const markdown = [
  `Top-1 (%) on the sample's 1 000 test images, mean ± std over seeds ${complete.join(', ')} (each seed: its own encoder init, data order and views, the same for every row); "vs random init" is the paired difference from the same CNN and seed at random init.`,
  '',
  `| ${header.join(' | ')} |`,
  `| ${header.map(() => '---').join(' | ')} |`,
  ...table.map((cells) => `| ${cells.join(' | ')} |`),
  '',
  `Paired differences (same seed) of the combination from each task trained alone, points:`,
  '',
  `| | kNN | 10 labels/class | linear, all labels |`,
  `| --- | --- | --- | --- |`,
  ...paired.map((cells) => `| ${cells.join(' | ')} |`),
].join('\n');
process.stdout.write(`${markdown}\n`);
if (values.readme) replaceReadmeSection(values.readme, 'multi-task-fashion', markdown);
