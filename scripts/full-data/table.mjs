#!/usr/bin/env node
// The cross-method table: every finished full-data run of scripts/full-data/run-queue.mjs, one row per run, the
// same protocol for all (@ssl/eval's pretrainAndCompare: kNN k=200, linear probe on all labels, 10 labels per
// class over 5 subsets), each figure beside the same encoder at random init. Prints markdown; with --write,
// replaces the part of a file between <!-- full-data:begin --> and <!-- full-data:end -->.
//
//   node scripts/full-data/table.mjs [--results scripts/full-data/results.jsonl] [--family noncontrastive] [--write docs/benchmarks.md]
//
// --family semisup writes the semi-supervised table instead (semisupTable below): each method's classifier beside
// supervised-only on the same labels, per seed, between <!-- semisup-benchmark:start --> and <!-- semisup-benchmark:end -->
// (node scripts/full-data/table.mjs --family semisup --write packages/semisup/README.md). semisup:* runs are not
// rows of the self-supervised table.
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

// An attempt that a later finished run of the same entry replaced is history, not a row: a failed one the queue
// resumed, or a finished one run again because a pending entry needed its run folder on a new machine.
function readResults(path) {
  if (!existsSync(path)) return [];
  const results = readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
  const replaced = (result, index) =>
    results.some((later, laterIndex) => laterIndex > index && later.name === result.name && later.exitCode === 0);
  return results.filter((result, index) => !replaced(result, index));
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
  // A run at SSL_THREADS=1 (one wasm thread, the other core left to other jobs) says so; 2 threads is the default.
  const threads = result.threads === 1 ? ', 1 wasm thread' : '';
  const load = result.load ? `load ${result.load.start}→${result.load.end} on ${result.load.cores} cores${threads}` : '';
  const cpu = result.cpuMinutes === undefined ? '' : `, ${result.cpuMinutes} CPU min`;
  const segment = result.resumed ? ' of the last segment (resumed)' : '';
  const time =
    result.stepMinutes === undefined
      ? `${result.wallMinutes} min wall${cpu}${segment}`
      : `${result.stepMinutes} min in steps, ${result.wallMinutes} min wall${cpu}${segment}`;
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

const SEMISUP_BEGIN = '<!-- semisup-benchmark:start -->';
const SEMISUP_END = '<!-- semisup-benchmark:end -->';

/** The value after `flag` in a run's args, or undefined. */
const flagValue = (args, flag) => {
  const at = args.indexOf(flag);
  return at < 0 ? undefined : args[at + 1];
};

/**
 * A semi-supervised run as the table reads it: the row is the recipe file's name (packages/semisup/recipes/benchmark/
 * fixmatch.json → fixmatch; supervised-only.json is FixMatch with its unlabeled weight 0; with --init <run> the row
 * adds ", from <run's directory name>"), labels = 10 classes × k,
 * the length is --steps (or --epochs per round), and its control is either the seed's shared supervised-only run
 * (--control) or the method's own ablation trained in the same process (same rounds and steps).
 */
function semisupRun(result) {
  const args = result.args;
  const recipe = flagValue(args, '--config');
  const recipeRow = recipe ? recipe.replace(/^.*\//, '').replace(/\.json$/, '') : result.method.replace(/^semisup:/, '');
  // A queue entry renamed when its recipe file changed (semisup-self-training-<tag>-100l-…) is another recipe than the
  // lines of the old name, which stay as history: its row says the tag, so the two are not averaged together.
  const stem = result.name.replace(/^semisup-/, '').replace(/-\d+l-.*$/, '');
  const tagged = stem.startsWith(`${recipeRow}-`) ? `${recipeRow} (${stem.slice(recipeRow.length + 1)})` : recipeRow;
  // A run whose encoder started from a self-supervised run (ssl semisup --init) is another recipe: its row names the start.
  const init = flagValue(args, '--init');
  const row = init ? `${tagged}, from ${init.replace(/\/+$/, '').replace(/^.*\//, '')}` : tagged;
  const steps = flagValue(args, '--steps');
  const epochs = flagValue(args, '--epochs');
  const classifier = result.evaluation?.classifier;
  return {
    row,
    // The registered method a random-init row measures (supervised-only's recipe is FixMatch with λu 0: its own name).
    coverageMethod: init ? undefined : `semisup:${recipeRow}`,
    data: result.data,
    labels: 10 * Number(flagValue(args, '--labels-per-class')),
    seed: Number(flagValue(args, '--seed') ?? 0),
    length: steps ? `${steps} steps` : `${epochs ?? 'default'} ep/round`,
    control: args.includes('--no-control') ? 'none' : args.includes('--control') ? 'shared' : 'own ablation',
    result,
    accuracy: classifier?.accuracy,
    controlAccuracy: classifier?.control?.name === 'supervised-only' ? classifier.control.accuracy : undefined,
  };
}

/** "3.2" or "3.2–7.9": the 1-minute load averages the runs started at. */
const loadRange = (loads) => {
  const [low, high] = [Math.min(...loads), Math.max(...loads)].map((load) => load.toFixed(1));
  return low === high ? low : `${low}–${high}`;
};
const meanStd = (values) => {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const std = values.length > 1 ? Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1)) : undefined;
  return { mean, std };
};
const points = (value) => (100 * value).toFixed(1);
const signed = (value) => `${value >= 0 ? '+' : ''}${(100 * value).toFixed(1)}`;
const meanStdCell = (values, format = points) => {
  if (values.length === 0) return '—';
  const { mean, std } = meanStd(values);
  return std === undefined ? `${format(mean)} (1 seed)` : `${format(mean)} ± ${(100 * std).toFixed(1)} (${values.length} seeds)`;
};

/**
 * The semi-supervised table (issue 32): one line per method × labels × length, test top-1 of the method's own
 * classifier per seed and its mean ± sample std, supervised-only on the same labels, seed and steps beside it, and
 * the difference (mean ± std of the per-seed differences). Then the runs that failed and coverage lines: registered
 * semisup:* methods without three seeds at 100 labels, and acceptance 5's rows at 40 and 1 000 labels.
 */
function semisupTable(results) {
  const runs = results.filter((result) => result.exitCode === 0 && result.evaluation?.classifier).map(semisupRun);
  const failed = results.filter((result) => result.exitCode !== 0 || !result.evaluation?.classifier);
  const groups = new Map();
  for (const run of runs) {
    const key = [run.data, run.labels, run.length, run.row].join('|');
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(run);
  }
  const order = [...groups.values()].sort(
    (a, b) =>
      a[0].labels - b[0].labels ||
      a[0].length.localeCompare(b[0].length) ||
      (a[0].row === 'supervised-only' ? -1 : b[0].row === 'supervised-only' ? 1 : a[0].row.localeCompare(b[0].row)),
  );
  const header = [
    'method (recipe)',
    'labels',
    'length',
    'steps',
    'minutes per run',
    'top-1 % per seed (seed: method / supervised-only)',
    'method, mean ± std',
    'supervised-only, mean ± std',
    'difference, points',
    'control',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const group of order) {
    group.sort((a, b) => a.seed - b.seed);
    const first = group[0];
    const paired = group.filter((run) => run.controlAccuracy !== undefined);
    const perSeed = group
      .map((run) => `${run.seed}: ${points(run.accuracy)}${run.controlAccuracy === undefined ? '' : ` / ${points(run.controlAccuracy)}`}`)
      .join('; ');
    const minutes = meanStd(group.map((run) => run.result.stepMinutes ?? run.result.wallMinutes)).mean;
    // A resumed run's wall and CPU minutes are its last segment's: left out of those means.
    const whole = group.filter((run) => !run.result.resumed);
    const wall = whole.length === 0 ? '' : `, ${meanStd(whole.map((run) => run.result.wallMinutes)).mean.toFixed(1)} wall`;
    const cpuMinutes = whole.map((run) => run.result.cpuMinutes).filter((value) => value !== undefined);
    const cpu = cpuMinutes.length === 0 ? '' : `, ${meanStd(cpuMinutes).mean.toFixed(1)} CPU`;
    const threads = [...new Set(group.map((run) => run.result.threads).filter((value) => value !== undefined))];
    const threadsNote = threads.length === 0 ? '' : `, ${threads.join('/')} thread${threads.join('') === '1' ? '' : 's'}`;
    const loads = group.map((run) => run.result.load?.start).filter((load) => load !== undefined);
    const steps = [...new Set(group.map((run) => run.result.steps))].join(', ');
    const data = first.data && first.data !== 'fashion-mnist' ? ` (${first.data})` : '';
    lines.push(
      `| ${first.row}${data} | ${first.labels} | ${first.length} | ${steps} | ${minutes.toFixed(1)} in steps${wall}${cpu} (load ${loadRange(loads)}${threadsNote}) | ${perSeed} | ${meanStdCell(group.map((run) => run.accuracy))} | ${meanStdCell(paired.map((run) => run.controlAccuracy))} | ${meanStdCell(
        paired.map((run) => run.accuracy - run.controlAccuracy),
        signed,
      )} | ${[...new Set(group.map((run) => run.control))].join(', ')} |`,
    );
  }
  const notes = [];
  if (failed.length > 0)
    notes.push(
      `Failed or unevaluated runs (rerun them): ${failed.map((result) => `${result.name} (exit ${result.exitCode})`).join(', ')}.`,
    );
  notes.push(...semisupCoverage(runs));
  return `${runs.length === 0 ? 'No semi-supervised run has finished yet.' : lines.join('\n')}\n\n${notes.join('\n\n')}`;
}

/** Coverage of issue 32's acceptance 3 (every registered semisup:* method, 100 labels, 3 seeds) and 5 (40 and 1 000 labels). */
function semisupCoverage(runs) {
  const listed = spawnSync('node', ['packages/cli/bin/ssl.mjs', 'list', '--json'], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`ssl list --json failed: ${listed.stderr}`);
  const methods = JSON.parse(listed.stdout)
    .methods.filter((method) => method.id.startsWith('semisup:'))
    .map((method) => method.id);
  const fullData = runs.filter((run) => (run.data ?? 'fashion-mnist') === 'fashion-mnist');
  // The most seeds one row of the method has (a renamed recipe's row and its history's are counted apart).
  const seedsAt = (id, labels) => {
    const seedsByRow = new Map();
    for (const run of fullData.filter((run) => run.coverageMethod === id && run.labels === labels))
      seedsByRow.set(run.row, (seedsByRow.get(run.row) ?? new Set()).add(run.seed));
    return Math.max(0, ...[...seedsByRow.values()].map((seeds) => seeds.size));
  };
  const complete = methods.filter((id) => seedsAt(id, 100) >= 3);
  const partial = methods.filter((id) => seedsAt(id, 100) > 0 && seedsAt(id, 100) < 3);
  const missing = methods.filter((id) => seedsAt(id, 100) === 0);
  const fewAndMany = ['supervised-only', 'pseudo-label', 'mean-teacher', 'mixmatch', 'fixmatch', 'flexmatch'];
  const without = (labels) => fewAndMany.filter((row) => !fullData.some((run) => run.row === row && run.labels === labels));
  return [
    `Registered semi-supervised methods (semisup:*): ${methods.length}; with 3 seeds at 100 labels on the full Fashion-MNIST: ${complete.length}` +
      (partial.length ? `; fewer seeds: ${partial.join(', ')}` : '') +
      (missing.length ? `; no row yet: ${missing.join(', ')}` : '') +
      '.',
    ...[40, 1000].map((labels) =>
      without(labels).length === 0
        ? `${labels} labels: every row of issue 32's acceptance 5 is measured.`
        : `${labels} labels, not measured yet: ${without(labels).join(', ')}.`,
    ),
  ];
}

const semisup = values.family === 'semisup';
const results = readResults(values.results).filter((result) =>
  values.family ? result.method.startsWith(`${values.family}:`) : !result.method.startsWith('semisup:'),
);
const table = semisup
  ? semisupTable(results)
  : values.family
    ? markdownTable(results)
    : `${markdownTable(results)}\n\n${coverageNote(results)}`;
if (!values.write) {
  console.log(table);
} else {
  const text = readFileSync(values.write, 'utf8');
  const [BEGIN_MARK, END_MARK] = semisup ? [SEMISUP_BEGIN, SEMISUP_END] : [BEGIN, END];
  const begin = text.indexOf(BEGIN_MARK);
  const end = text.indexOf(END_MARK);
  if (begin < 0 || end < begin) throw new Error(`${values.write} has no ${BEGIN_MARK} … ${END_MARK} section to replace.`);
  const updated = `${text.slice(0, begin + BEGIN_MARK.length)}\n\n${table}\n\n${text.slice(end)}`;
  // Formatted as `pnpm lint` checks it, so regenerating the table never breaks the lint.
  const options = (await prettier.resolveConfig(values.write)) ?? {};
  writeFileSync(values.write, await prettier.format(updated, { ...options, filepath: values.write }));
  console.log(`wrote ${results.length} rows to ${values.write}`);
}
