// Shared by the eval scripts: a run's encoder of any kind, features cached on disk, resumable JSONL results, and a
// README section rewritten between markers.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRegistry, loadEncoder } from '@ssl/core';
import type { Encoder, EncoderKindsOptions, Plugin } from '@ssl/core';
import { extractFeatures } from '../src/extract-features';
import type { FeatureEncoder, FeatureSet, LabeledImageDataset } from '../src/types';

/** The source of the first-party plugin of a method family (`masked:stacked-dae` → packages/masked/src/index.ts). */
function pluginSource(method: string): URL {
  return new URL(`../../${method.split(':')[0]}/src/index.ts`, import.meta.url);
}

/** The first-party plugin of a method family, by path: eval does not depend on the method packages. */
export async function pluginOf(method: string): Promise<Plugin> {
  const module = (await import(pluginSource(method).href)) as { default: () => Plugin };
  return module.default();
}

/**
 * The encoder kinds of a run's method plugin (its config.json's `method`), for a saved encoder of a plugin's kind
 * (masked:stacked-dae's) and its random-init control; none when the run names no first-party method.
 */
export async function runEncoderKinds(runDir: string): Promise<EncoderKindsOptions> {
  const configPath = join(runDir, 'config.json');
  if (!existsSync(configPath)) return {};
  const { method } = JSON.parse(readFileSync(configPath, 'utf8')) as { method?: unknown };
  if (typeof method !== 'string' || !existsSync(fileURLToPath(pluginSource(method)))) return {};
  const plugin = await pluginOf(method);
  return { encoders: createRegistry().use(plugin).parts().encoders };
}

/**
 * A run's saved encoder (`<run>/encoder`) of any kind, with the encoder kinds it was loaded with: pass them to
 * `randomInitControl(encoder, kinds)`. A plugin kind whose plugin the run does not name is loadEncoder's one-line error.
 */
export async function loadRunEncoder(runDir: string): Promise<{ encoder: Encoder; kinds: EncoderKindsOptions }> {
  const kinds = await runEncoderKinds(runDir);
  return { encoder: await loadEncoder(join(runDir, 'encoder'), kinds), kinds };
}

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
