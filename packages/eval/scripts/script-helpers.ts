// Shared by the eval scripts: features cached on disk, resumable JSONL results, and a README section
// rewritten between markers.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { extractFeatures } from '../src/extract-features';
import type { FeatureEncoder, FeatureSet, LabeledImageDataset } from '../src/types';

/**
 * Features of `dataset` under `encoder`, read from `path` (a raw float32 file beside a JSON header) when a
 * previous run wrote them, else extracted and written there: a resumed script does not re-encode the data.
 */
export async function cachedFeatures(encoder: FeatureEncoder, dataset: LabeledImageDataset, path: string): Promise<FeatureSet> {
  const header = `${path}.json`;
  if (existsSync(path) && existsSync(header)) {
    const { dim, count } = JSON.parse(readFileSync(header, 'utf8')) as { dim: number; count: number };
    const bytes = readFileSync(path);
    const features = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    if (features.length === dim * count && dataset.labels) return { features, dim, labels: dataset.labels };
  }
  const set = await extractFeatures(encoder, dataset, { batchSize: 500 });
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, Buffer.from(set.features.buffer, set.features.byteOffset, set.features.byteLength));
  writeFileSync(header, JSON.stringify({ dim: set.dim, count: set.labels.length }));
  return set;
}

/** Every JSON line of `path` (none when it does not exist yet). */
export function readJsonLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

export function appendJsonLine(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${JSON.stringify(value)}\n`);
}

/**
 * Replaces the text between `<!-- name:start -->` and `<!-- name:end -->` in a markdown file; throws when
 * the markers are missing, so a README is never silently left stale.
 */
export function replaceReadmeSection(readmePath: string, name: string, body: string): void {
  const text = readFileSync(readmePath, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${readmePath} has no ${start} … ${end} section to write into.`);
  writeFileSync(readmePath, `${text.slice(0, from + start.length)}\n\n${body.trim()}\n\n${text.slice(to)}`);
}

/** `12.3 ± 0.4` from fractions. */
export function percent(mean: number, spread: number): string {
  return `${(100 * mean).toFixed(1)} ± ${(100 * spread).toFixed(1)}`;
}

export function elapsedSeconds(started: number): number {
  return Math.round((performance.now() - started) / 100) / 10;
}
