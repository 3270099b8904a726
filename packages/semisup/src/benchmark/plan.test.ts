import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BENCHMARK_ROWS,
  README_END,
  README_START,
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
import { semisup } from '../plugin';

const settings: BenchmarkSettings = { data: 'sample', steps: 3, batchSize: 16, channels: [8, 16], lr: 0.1 };
const directory = mkdtempSync(join(tmpdir(), 'semisup-benchmark-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function result(run: BenchmarkRun, accuracy: number, seconds = 60): BenchmarkResult {
  return { ...run, key: runKey(run, settings), method: BENCHMARK_ROWS[run.row].method, accuracy, stepsRun: 3, seconds, finishedAt: '' };
}

describe('semisup benchmark plan', () => {
  it('rows name registered methods; the issue plan is 100 labels × 3 seeds × every row, then 40 and 1 000 labels × seed 0 × six rows', () => {
    const registered = new Set(Object.keys(semisup().methods).map((m) => `semisup:${m}`));
    for (const row of Object.values(BENCHMARK_ROWS)) expect(registered.has(row.method)).toBe(true);
    const rows = Object.keys(BENCHMARK_ROWS);
    const plan = issuePlan();
    expect(plan).toHaveLength(3 * rows.length + 2 * 6);
    expect(plan.slice(0, rows.length).every((r) => r.labels === 100 && r.seed === 0)).toBe(true);
    expect(plan.filter((r) => r.labels === 40).map((r) => r.row)).toEqual([
      'supervised-only',
      'pseudo-label',
      'mean-teacher',
      'mixmatch',
      'fixmatch',
      'flexmatch',
    ]);
    expect(new Set(plan.map((r) => runKey(r, settings))).size).toBe(plan.length);
    expect(gridPlan(['fixmatch', 'vat'], [40, 100], [0, 1])).toHaveLength(8);
  });

  it('skips what the results file holds, ignores a torn last line, and starts a new line after it', () => {
    const file = join(directory, 'unit', 'results.jsonl');
    const plan = gridPlan(['supervised-only', 'fixmatch'], [100], [0, 1]);
    appendResult(file, result(plan[0], 0.7));
    writeFileSync(file, `${readFileSync(file, 'utf8')}{"row":"fixm`);
    expect(readResults(file).map((r) => r.row)).toEqual(['supervised-only']);
    expect(pendingRuns(plan, readResults(file), settings)).toEqual(plan.slice(1));
    appendResult(file, result(plan[1], 0.8));
    expect(readResults(file).map((r) => r.row)).toEqual(['supervised-only', 'fixmatch']);
    // Another setting (more steps) is another benchmark: nothing of it is done.
    expect(pendingRuns(plan, readResults(file), { ...settings, steps: 4 })).toEqual(plan);
  });

  it('tables the mean ± sample std over seeds per label count, and fills the README between its markers', () => {
    const runs = [
      result({ row: 'fixmatch', labels: 100, seed: 0 }, 0.7, 60),
      result({ row: 'fixmatch', labels: 100, seed: 1 }, 0.8, 180),
      result({ row: 'supervised-only', labels: 40, seed: 0 }, 0.5),
    ];
    const table = resultsTable(runs, settings).split('\n');
    expect(table[0]).toBe('| method | 40 labels: top-1 % (seeds) | 100 labels: top-1 % (seeds) | steps per run | minutes per run |');
    expect(table[2]).toBe('| supervised-only | 50.00 (1) | – | 3 | 1.0 |');
    expect(table[3]).toBe(`| fixmatch | – | 75.00 ± ${(100 * Math.sqrt(0.005)).toFixed(2)} (2) | 3 | 2.0 |`);
    expect(resultsTable(runs, { ...settings, steps: 9 }).split('\n')).toHaveLength(2);
    const readme = `# x\n${README_START}\nold\n${README_END}\nrest`;
    expect(replaceBetweenMarkers(readme, 'T')).toBe(`# x\n${README_START}\n\nT\n\n${README_END}\nrest`);
    expect(() => replaceBetweenMarkers('# none', 'T')).toThrow(/semisup-benchmark:start/);
  });
});

describe('semisup benchmark script', () => {
  it('runs a configuration in a child process, appends its result and table, and a rerun skips it', () => {
    const script = fileURLToPath(new URL('./benchmark.ts', import.meta.url));
    const results = join(directory, 'tiny', 'results.jsonl');
    const args = [
      '--conditions=@ssl/source',
      '--import',
      'tsx',
      script,
      ...['--data', 'sample', '--steps', '3', '--channels', '8,16', '--rows', 'supervised-only', '--labels', '100', '--seeds', '0'],
      ...['--results', results],
    ];
    const first = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(first).toContain('0 of 1 configurations done');
    const saved = readResults(results);
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ row: 'supervised-only', labels: 100, seed: 0, stepsRun: 3 });
    expect(saved[0].accuracy).toBeGreaterThanOrEqual(0);
    expect(readFileSync(join(directory, 'tiny', 'results.md'), 'utf8')).toContain('| supervised-only |');
    const second = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(second).toContain('1 of 1 configurations done');
    expect(readResults(results)).toHaveLength(1);
  }, 180_000);
});
