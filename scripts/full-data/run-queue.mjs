#!/usr/bin/env node
// Full-Fashion-MNIST runs, one configuration per process, one after another, so the figures in the package
// READMEs come from a script rather than from memory. Each finished run appends one JSON line to the results
// file; a configuration whose name is already there is skipped, and a run directory left by an interrupted
// run is resumed, so the queue can be stopped and restarted across sessions without losing work. An entry whose
// --control or --init run folder is missing (a new machine) has that entry run again before it.
//
//   node scripts/full-data/run-queue.mjs [--queue scripts/full-data/queue.json] [--results <file.jsonl>]
//        [--runs <dir>] [--only name,name] [--match regex] [--exclude regex] [--all]
//
// An entry is { name, method, args, data? (default fashion-mnist), command? ('pretrain' or 'semisup'), prepare? (a
// command run first, e.g. to write CLIP's caption pairs) }; `{runs}` in data, args and prepare stands for --runs.
//
// --all adds every self-supervised method `ssl list` finds that the queue does not name, with the stated
// default budget (DEFAULT_ARGS), so the cross-method table covers every method registered when it runs.
//
// --match / --exclude keep or drop entries by a regular expression on their names: two queues can share the machine,
// e.g. the semi-supervised runs (about one core each at SSL_THREADS=1: their small steps keep a second thread mostly
// idle) beside the image methods. Each line records the wasm threads it ran with (SSL_THREADS, else the core count).
//
// Wall time depends on what else the machine runs: each line records the load average at start and end and
// the minutes spent in training steps, and the README tables say under which load a figure was timed.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    queue: { type: 'string', default: 'scripts/full-data/queue.json' },
    results: { type: 'string', default: 'scripts/full-data/results.jsonl' },
    runs: { type: 'string', default: 'runs/full-data' },
    only: { type: 'string' },
    match: { type: 'string' },
    exclude: { type: 'string' },
    all: { type: 'boolean', default: false },
  },
});

/** The budget of a method the queue does not configure: 3 epochs of the full training set at batch 256. */
const DEFAULT_ARGS = ['--epochs', '3', '--batch-size', '256'];

const queue = JSON.parse(readFileSync(values.queue, 'utf8'));
if (values.all) queue.push(...unqueuedMethods(queue));
const resultsFile = resolve(values.results);
const only = values.only ? new Set(values.only.split(',')) : undefined;
const match = values.match ? new RegExp(values.match) : undefined;
const exclude = values.exclude ? new RegExp(values.exclude) : undefined;
const selected = (configuration) =>
  (!only || only.has(configuration.name)) && (!match || match.test(configuration.name)) && !exclude?.test(configuration.name);

/** Entries that finished with exit code 0. A failed one runs again: a failure of the machine (killed, out of disk) or of an entry it depends on (a semi-supervised run's --control) must not leave it skipped for good. */
function finishedNames() {
  if (!existsSync(resultsFile)) return new Set();
  const lines = readFileSync(resultsFile, 'utf8').split('\n').filter(Boolean);
  return new Set(
    lines
      .map((line) => JSON.parse(line))
      .filter((result) => result.exitCode === 0)
      .map((result) => result.name),
  );
}

/** Registered methods that train on unlabeled images (what `ssl pretrain` runs) and that no queue entry names. */
function unqueuedMethods(entries) {
  const listed = spawnSync('node', ['packages/cli/bin/ssl.mjs', 'list', '--json'], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`ssl list --json failed: ${listed.stderr}`);
  const queued = new Set(entries.map((entry) => entry.method));
  return JSON.parse(listed.stdout)
    .methods.filter((method) => method.data === 'unlabeled' && !queued.has(method.id))
    .map((method) => ({ name: `${method.id.replace(':', '-')}-default-3ep`, method: method.id, args: DEFAULT_ARGS }));
}

function gitCommit() {
  const result = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  return result.stdout.trim();
}

/** The run's eval.json (every figure with its controls, collapse diagnostics and verdict) and its step count. */
function summariseRun(out) {
  const evaluation = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
  const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.includes('"type":"step"'))
    .map((line) => JSON.parse(line));
  // Time spent in training steps (summed per step), which a resumed run's wall time does not show.
  const stepMinutes = records.reduce((sum, record) => sum + (record.seconds ?? 0), 0) / 60;
  return { steps: records.length, stepMinutes: Number(stepMinutes.toFixed(1)), evaluation };
}

const GNU_TIME = '/usr/bin/time';

/**
 * Runs `node args` and measures its peak resident memory with GNU time (Debian's `time` package): the maximum RSS
 * of the process tree it waited for, i.e. the training process that `ssl` starts. Without GNU time, no memory figure.
 */
function spawnMeasured(args) {
  if (!existsSync(GNU_TIME)) return { child: spawnSync('node', args, { stdio: 'inherit' }) };
  const output = join(tmpdir(), `ssl-queue-rss-${process.pid}.txt`);
  const child = spawnSync(GNU_TIME, ['-f', '%M %U %S', '-o', output, 'node', ...args], { stdio: 'inherit' });
  const [kilobytes, user, system] = existsSync(output) ? readFileSync(output, 'utf8').trim().split('\n').pop().split(' ').map(Number) : [];
  rmSync(output, { force: true });
  // CPU time of every thread (the wasm helper worker, the decode worker) is load-independent, unlike wall time: a
  // quiet machine runs the command in at most this long, and in about half of it while both threads are busy.
  const cpuMinutes = (user + system) / 60;
  return {
    child,
    ...(Number.isFinite(kilobytes) ? { peakRssMb: Math.round(kilobytes / 1024) } : {}),
    ...(Number.isFinite(cpuMinutes) ? { cpuMinutes: Number(cpuMinutes.toFixed(1)) } : {}),
  };
}

/** `{runs}` in an entry's data, args or prepare command stands for the --runs folder (data a script writes there). */
const withRuns = (text) => text.replaceAll('{runs}', values.runs);

function runConfiguration(configuration) {
  const out = join(values.runs, configuration.name);
  const data = withRuns(configuration.data ?? 'fashion-mnist');
  // `prepare`: a command that writes the entry's data first (CLIP's caption pairs); it must skip work already done.
  if (configuration.prepare) {
    const [command, ...rest] = configuration.prepare.map(withRuns);
    const prepared = spawnSync(command, rest, { stdio: 'inherit' });
    if (prepared.status !== 0) throw new Error(`${configuration.name}: prepare failed (exit ${prepared.status})`);
  }
  const args = ['packages/cli/bin/ssl.mjs', configuration.command ?? 'pretrain', configuration.method, '--data', data, '--out', out];
  args.push(...configuration.args.map(withRuns));
  const resumed = existsSync(join(out, 'config.json'));
  if (resumed) args.push('--resume');
  const loadAtStart = loadavg()[0];
  const started = Date.now();
  console.log(`[${new Date().toISOString()}] ${configuration.name}: node ${args.join(' ')}`);
  const { child, peakRssMb, cpuMinutes } = spawnMeasured(args);
  const minutes = (Date.now() - started) / 60000;
  const line = {
    name: configuration.name,
    method: configuration.method,
    data,
    args: configuration.args,
    commit: gitCommit(),
    finished: new Date().toISOString(),
    exitCode: child.status,
    wallMinutes: Number(minutes.toFixed(1)),
    load: { start: Number(loadAtStart.toFixed(2)), end: Number(loadavg()[0].toFixed(2)), cores: cpus().length },
    threads: Number(process.env.SSL_THREADS ?? cpus().length),
    ...(peakRssMb === undefined ? {} : { peakRssMb }),
    ...(cpuMinutes === undefined ? {} : { cpuMinutes }),
    // Wall and CPU minutes then cover the last segment only; stepMinutes still sums every step of the run.
    ...(resumed ? { resumed: true } : {}),
  };
  if (child.status === 0 && existsSync(join(out, 'eval.json'))) Object.assign(line, summariseRun(out));
  appendFileSync(resultsFile, `${JSON.stringify(line)}\n`);
  console.log(`[${new Date().toISOString()}] ${configuration.name}: exit ${child.status}, ${line.wallMinutes} min`);
}

/** Queue entries whose run folder an entry reads: `{runs}/<name>` in its args (a --control or an --init run). */
function dependencies(configuration) {
  const names = configuration.args.flatMap((arg) => [...arg.matchAll(/\{runs\}\/([^/\s]+)/g)].map((match) => match[1]));
  return queue.filter((entry) => names.includes(entry.name));
}

// The runs folder does not travel with results.jsonl: on a new machine a finished entry that a pending one reads
// (its --control, its --init encoder) is gone and runs again first; table.mjs keeps the latest finished line.
const done = finishedNames();
const present = (configuration) => existsSync(join(values.runs, configuration.name, 'eval.json'));
for (const configuration of queue) {
  if (!selected(configuration)) continue;
  if (done.has(configuration.name)) continue;
  for (const dependency of dependencies(configuration)) {
    if (!present(dependency)) runConfiguration(dependency);
  }
  runConfiguration(configuration);
}
