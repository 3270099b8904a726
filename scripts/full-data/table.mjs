#!/usr/bin/env node
// The cross-method table: every finished full-data run of scripts/full-data/run-queue.mjs, one row per run, the
// same protocol for all (@ssl/eval's pretrainAndCompare: kNN k=200, linear probe on all labels, 10 labels per
// class over 5 subsets), each figure beside the same encoder at random init. Prints markdown; with --write,
// replaces the part of a file between <!-- full-data:begin --> and <!-- full-data:end -->.
//
//   node scripts/full-data/table.mjs [--results scripts/full-data/results.jsonl] [--family noncontrastive] [--write docs/benchmarks.md]
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import prettier from 'prettier';

const { values } = parseArgs({
  options: {
    results: { type: 'string', default: 'scripts/full-data/results.jsonl' },
    family: { type: 'string' },
    write: { type: 'string' },
  },
});

const BEGIN = '<!-- full-data:begin -->';
const END = '<!-- full-data:end -->';

function readResults(path) {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

const percent = (value) => `${(100 * value).toFixed(1)}`;
const withStd = (value, std) => (std === undefined ? percent(value) : `${percent(value)} ± ${percent(std)}`);
const gain = (trained, control) => {
  const points = 100 * (trained - control);
  return `${points >= 0 ? '+' : ''}${points.toFixed(1)}`;
};

/** "81.1 vs 77.9 (+3.2)": the trained figure, its random-init control and the gain in points. */
function figureCell(row) {
  if (!row) return '—';
  const control = row.randomInit;
  if (!control) return withStd(row.value, row.std);
  return `${withStd(row.value, row.std)} vs ${withStd(control.value, control.std)} (${gain(row.value, control.value)})`;
}

/** The method's own task on held-out data (eval.json's heldOutTask), e.g. "rotation accuracy 91.2% vs 25.0% chance". */
function heldOutCell(evaluation) {
  const figures = evaluation?.heldOutTask ?? [];
  if (figures.length === 0) return '—';
  const value = (figure, number) => {
    if (figure.kind === 'accuracy') return `${percent(number)}%`;
    return figure.kind === 'score' ? `${number.toFixed(2)}${figure.unit ? ` ${figure.unit}` : ''}` : number.toPrecision(3);
  };
  return figures
    .map((figure) => `${figure.name} ${value(figure, figure.value)} vs ${value(figure, figure.reference.value)} ${figure.reference.name}`)
    .join('; ');
}

/** "no collapse (effective rank 37.1, std 0.039 of 0.088)": the verdict and the figures it rests on. */
function collapseCell(evaluation) {
  const verdict = evaluation?.collapseVerdict?.verdict;
  const collapse = evaluation?.collapse;
  if (!verdict) return '—';
  if (!collapse) return verdict;
  return `${verdict} (effective rank ${collapse.effectiveRank.toFixed(1)}, std ${collapse.perDimStd.toFixed(3)} of ${collapse.healthyPerDimStd.toFixed(3)})`;
}

function rowOf(result) {
  const rows = result.evaluation?.rows ?? [];
  const find = (prefix) => rows.find((row) => row.name.startsWith(prefix));
  const knn = find('kNN');
  const fewLabels = find('linear probe top-1, 10 labels');
  const linear = find('linear probe top-1, all labels');
  // Runs on other data than Fashion-MNIST (colorization: the emoji set) say so in their flags.
  const data = result.data && result.data !== 'fashion-mnist' ? ['--data', result.data] : [];
  const flags = [...data, ...result.args].join(' ');
  const load = result.load ? `load ${result.load.start}→${result.load.end} on ${result.load.cores} cores` : '';
  const time =
    result.stepMinutes === undefined
      ? `${result.wallMinutes} min wall`
      : `${result.stepMinutes} min in steps, ${result.wallMinutes} min wall`;
  const verdict = collapseCell(result.evaluation);
  if (result.exitCode !== 0) {
    return [
      result.method,
      flags,
      '—',
      `exit ${result.exitCode} after ${result.wallMinutes} min`,
      '—',
      '—',
      '—',
      '—',
      '—',
      '—',
      result.commit,
    ];
  }
  return [
    result.method,
    flags,
    String(result.steps ?? '—'),
    `${time} (${load})`,
    result.peakRssMb === undefined ? '—' : `${result.peakRssMb} MB`,
    figureCell(knn),
    figureCell(fewLabels),
    figureCell(linear),
    heldOutCell(result.evaluation),
    verdict,
    result.commit,
  ];
}

function markdownTable(results) {
  const header = [
    'method',
    'flags',
    'steps',
    'time',
    'peak RSS',
    'kNN top-1 vs random init',
    '10 labels/class vs random init',
    'linear, all labels',
    "the method's own task, held-out",
    'collapse',
    'commit',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const result of results) lines.push(`| ${rowOf(result).join(' | ')} |`);
  return lines.join('\n');
}

/** Data kinds outside this table's protocol, and why (the methods are measured in their own package's table). */
const OTHER_PROTOCOLS = {
  'semi-supervised':
    'semi-supervised (labels in training): the semi-supervised tables of their packages (@ssl/semisup, SimCLRv2 in @ssl/contrastive)',
  text: 'text (no image encoder): its own held-out task in its package README',
  'modality-pairs': 'pairs of two other modalities (no image encoder): retrieval and zero-shot in @ssl/clip README',
};

/**
 * Which registered methods (`ssl list --json`, so third-party plugins the CLI finds count too) have no row yet, and
 * which this protocol does not apply to: the table says what it does not cover instead of leaving it to be noticed.
 */
function coverageNote(results) {
  const listed = spawnSync('node', ['packages/cli/bin/ssl.mjs', 'list', '--json'], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`ssl list --json failed: ${listed.stderr}`);
  const methods = JSON.parse(listed.stdout).methods;
  const measured = new Set(results.filter((result) => result.exitCode === 0).map((result) => result.method));
  const imageMethods = methods.filter((method) => !OTHER_PROTOCOLS[method.data]);
  const missing = imageMethods.filter((method) => !measured.has(method.id)).map((method) => method.id);
  const other = Object.entries(OTHER_PROTOCOLS)
    .map(([data, why]) => [methods.filter((method) => method.data === data).map((method) => method.id), why])
    .filter(([ids]) => ids.length > 0)
    .map(([ids, why]) => `${ids.join(', ')} — ${why}`);
  return [
    `Registered image methods: ${imageMethods.length}; with a finished row: ${imageMethods.length - missing.length}.`,
    missing.length === 0 ? 'Every registered image method has a row.' : `No row yet (queued or to queue): ${missing.join(', ')}.`,
    ...other.map((line) => `Not in this protocol: ${line}.`),
  ].join('\n\n');
}

const results = readResults(values.results).filter((result) => !values.family || result.method.startsWith(`${values.family}:`));
const table = values.family ? markdownTable(results) : `${markdownTable(results)}\n\n${coverageNote(results)}`;
if (!values.write) {
  console.log(table);
} else {
  const text = readFileSync(values.write, 'utf8');
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${values.write} has no ${BEGIN} … ${END} section to replace.`);
  const updated = `${text.slice(0, begin + BEGIN.length)}\n\n${table}\n\n${text.slice(end)}`;
  // Formatted as `pnpm lint` checks it, so regenerating the table never breaks the lint.
  const options = (await prettier.resolveConfig(values.write)) ?? {};
  writeFileSync(values.write, await prettier.format(updated, { ...options, filepath: values.write }));
  console.log(`wrote ${results.length} rows to ${values.write}`);
}
