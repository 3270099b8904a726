import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SslError } from '@ssl/core';
import type { HeldOutFigure } from '@ssl/core';

/** One line of `metrics.jsonl`: the trainer logs step/epoch/loss/lr/time plus any method or monitor metrics. */
export interface MetricsRecord {
  step?: number;
  epoch?: number;
  loss?: number;
  lr?: number;
  time?: number;
  [metric: string]: number | string | boolean | null | undefined;
}

/** A figure, with its standard deviation when it is a mean over label subsets. */
export interface EvaluationFigure {
  value: number;
  std?: number;
}

/** One row of the final evaluation table: the trained encoder's figure, and beside it the same figure for its controls. */
export interface EvaluationRow {
  name: string;
  value: number | string;
  /** Standard deviation of `value` when it is a mean over label subsets. */
  std?: number;
  /** The same figure for the same encoder spec and seed at random init: whether the method learned shows here. */
  randomInit?: EvaluationFigure;
  /** The same figure on raw pixels. */
  rawPixels?: EvaluationFigure;
  /** What the number means or how it was measured, e.g. "k=200, cosine, T=0.07". */
  detail?: string;
}

/**
 * The contents of `eval.json`, written by `ssl pretrain` / `ssl eval` after training. `collapse` holds the
 * representation-collapse diagnostics (effective rank, per-dimension std, ...) as name → number.
 */
export interface RunEvaluation {
  rows: EvaluationRow[];
  collapse?: Record<string, number>;
  /** The collapse diagnostics read in words: 'collapsed', 'dimensional collapse' or 'no collapse', and why. */
  collapseVerdict?: { verdict: string; explanation: string };
  /** The method's own classifier (semi-supervised classifier, CLIP zero-shot) beside its control. */
  classifier?: { description: string; accuracy: number; control?: { name: string; accuracy: number } };
  /** The method's own task on held-out data (pretext accuracy, reconstruction error...) beside its uninformed reference. */
  heldOutTask?: HeldOutFigure[];
}

export interface EmbeddingMapImage {
  fileName: string;
  mimeType: 'image/png' | 'image/svg+xml';
  bytes: Buffer;
}

/** Everything a run directory holds that the report shows. Missing files are `undefined`/empty, never an error. */
export interface RunContents {
  runDir: string;
  config: Record<string, unknown> | undefined;
  metrics: MetricsRecord[];
  /** Lines of metrics.jsonl that were not valid JSON objects (e.g. a line cut off when a run was killed). */
  skippedMetricLines: number;
  evaluation: RunEvaluation | undefined;
  embeddingMap: EmbeddingMapImage | undefined;
}

export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  evaluation: 'eval.json',
  report: 'report.html',
  embeddingMapPng: 'embedding-map.png',
  embeddingMapSvg: 'embedding-map.svg',
} as const;

export async function readRun(runDir: string): Promise<RunContents> {
  const info = await stat(runDir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new SslError('io', `Run directory ${runDir} does not exist or is not a directory; pass the --out directory of a run.`);
  }
  const configPath = join(runDir, RUN_FILES.config);
  const metricsPath = join(runDir, RUN_FILES.metrics);
  if (!existsSync(configPath) && !existsSync(metricsPath)) {
    throw new SslError('io', `${runDir} has neither ${RUN_FILES.config} nor ${RUN_FILES.metrics}; it is not a training run directory.`);
  }
  const config = await readJsonFile(configPath);
  if (config !== undefined && !isPlainObject(config)) {
    throw new SslError('io', `${configPath} must hold a JSON object.`);
  }
  const { metrics, skipped } = await readMetrics(metricsPath);
  return {
    runDir,
    config,
    metrics,
    skippedMetricLines: skipped,
    evaluation: await readRunEvaluation(runDir),
    embeddingMap: await readEmbeddingMap(runDir),
  };
}

/** The eval.json of a directory, or undefined when it has none. */
export async function readRunEvaluation(dir: string): Promise<RunEvaluation | undefined> {
  const path = join(dir, RUN_FILES.evaluation);
  return parseEvaluation(await readJsonFile(path), path);
}

async function readJsonFile(path: string): Promise<unknown> {
  if (!existsSync(path)) return undefined;
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SslError('io', `${path} is not valid JSON (${(error as Error).message}).`, { cause: error });
  }
}

async function readMetrics(path: string): Promise<{ metrics: MetricsRecord[]; skipped: number }> {
  if (!existsSync(path)) return { metrics: [], skipped: 0 };
  const metrics: MetricsRecord[] = [];
  let skipped = 0;
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    if (line.trim() === '') continue;
    try {
      const record: unknown = JSON.parse(line);
      if (isPlainObject(record)) metrics.push(record as MetricsRecord);
      else skipped++;
    } catch {
      // A run killed mid-write leaves a partial last line; the rest of the log is still worth showing.
      skipped++;
    }
  }
  return { metrics, skipped };
}

function parseEvaluation(value: unknown, path: string): RunEvaluation | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value) || !Array.isArray(value.rows)) {
    throw new SslError('io', `${path} must be a JSON object { "rows": [{ "name", "value" }], "collapse"?: {...} }.`);
  }
  const rows: EvaluationRow[] = [];
  for (const row of value.rows as unknown[]) {
    if (!isPlainObject(row) || typeof row.name !== 'string' || (typeof row.value !== 'number' && typeof row.value !== 'string')) {
      throw new SslError('io', `${path}: every row needs a string "name" and a number or string "value", got ${JSON.stringify(row)}.`);
    }
    rows.push({
      name: row.name,
      value: row.value,
      ...(typeof row.std === 'number' ? { std: row.std } : {}),
      ...optionalFigure('randomInit', row.randomInit),
      ...optionalFigure('rawPixels', row.rawPixels),
      ...(typeof row.detail === 'string' ? { detail: row.detail } : {}),
    });
  }
  const collapse: Record<string, number> = {};
  if (isPlainObject(value.collapse)) {
    for (const [name, number] of Object.entries(value.collapse)) if (typeof number === 'number') collapse[name] = number;
  }
  return {
    rows,
    ...(Object.keys(collapse).length > 0 ? { collapse } : {}),
    ...optionalVerdict(value.collapseVerdict),
    ...optionalClassifier(value.classifier),
    ...optionalHeldOutTask(value.heldOutTask),
  };
}

function optionalHeldOutTask(value: unknown): Pick<RunEvaluation, 'heldOutTask'> {
  if (!Array.isArray(value)) return {};
  const figures = value.filter(
    (figure): figure is HeldOutFigure =>
      isPlainObject(figure) &&
      typeof figure.name === 'string' &&
      (figure.kind === 'accuracy' || figure.kind === 'error' || figure.kind === 'score') &&
      typeof figure.value === 'number' &&
      isPlainObject(figure.reference) &&
      typeof figure.reference.name === 'string' &&
      typeof figure.reference.value === 'number',
  );
  return figures.length > 0 ? { heldOutTask: figures } : {};
}

function optionalVerdict(value: unknown): Pick<RunEvaluation, 'collapseVerdict'> {
  if (!isPlainObject(value) || typeof value.verdict !== 'string' || typeof value.explanation !== 'string') return {};
  return { collapseVerdict: { verdict: value.verdict, explanation: value.explanation } };
}

function optionalClassifier(value: unknown): Pick<RunEvaluation, 'classifier'> {
  if (!isPlainObject(value) || typeof value.description !== 'string' || typeof value.accuracy !== 'number') return {};
  const control = value.control;
  const validControl = isPlainObject(control) && typeof control.name === 'string' && typeof control.accuracy === 'number';
  return {
    classifier: {
      description: value.description,
      accuracy: value.accuracy,
      ...(validControl ? { control: { name: control.name as string, accuracy: control.accuracy as number } } : {}),
    },
  };
}

/** `{ [key]: figure }` for a well-formed `{ value, std? }`, nothing otherwise (eval.json files from before the controls). */
function optionalFigure(key: 'randomInit' | 'rawPixels', value: unknown): Partial<Record<'randomInit' | 'rawPixels', EvaluationFigure>> {
  if (!isPlainObject(value) || typeof value.value !== 'number') return {};
  return { [key]: { value: value.value, ...(typeof value.std === 'number' ? { std: value.std } : {}) } };
}

async function readEmbeddingMap(runDir: string): Promise<EmbeddingMapImage | undefined> {
  for (const [fileName, mimeType] of [
    [RUN_FILES.embeddingMapPng, 'image/png'],
    [RUN_FILES.embeddingMapSvg, 'image/svg+xml'],
  ] as const) {
    const path = join(runDir, fileName);
    if (existsSync(path)) return { fileName, mimeType, bytes: await readFile(path) };
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
