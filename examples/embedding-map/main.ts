// Embedding map of raw Fashion-MNIST pixels: the picture a learned representation should improve on.
// Run: pnpm --filter @ssl-examples/embedding-map start  [-- --sample 2000 --out path.png --source auto --seed 0]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { loadFashionMnist } from '@ssl/core';
import { embeddingMap, extractFeatures, flattenEncoder } from '@ssl/eval';

export interface EmbeddingMapExampleOptions {
  /** Test images projected (default 2000). */
  sample?: number;
  /** PNG path; the SVG is written next to it. */
  out?: string;
  /** Fashion-MNIST source for loadFashionMnist: 'auto' (default), 'sample' (bundled subset), 'full' or a folder. */
  source?: string;
  seed?: number;
}

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_OUT = resolve(here, '../../packages/eval/docs/embedding-map-raw-fmnist.png');

export async function runEmbeddingMapExample(
  options: EmbeddingMapExampleOptions = {},
): Promise<{ png: string; svg: string; points: number }> {
  await tf.setBackend('wasm');
  await tf.ready();
  const test = await loadFashionMnist({ split: 'test', source: options.source ?? 'auto' });
  const sample = Math.min(options.sample ?? 2000, test.size);
  // Raw pixels in [0, 1] through the same extraction path a trained encoder would take.
  const features = await extractFeatures(flattenEncoder(), test, { batchSize: 1000 });
  const map = await embeddingMap(features, {
    sample,
    seed: options.seed ?? 0,
    classNames: test.classNames,
    title: `UMAP of raw Fashion-MNIST pixels (${sample} test images)`,
  });
  const png = resolve(options.out ?? DEFAULT_OUT);
  const svg = png.replace(/\.png$/i, '') + '.svg';
  mkdirSync(dirname(png), { recursive: true });
  writeFileSync(png, map.png as Buffer);
  writeFileSync(svg, map.svg);
  return { png, svg, points: sample };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  // `pnpm start -- --flag` forwards the `--` itself; parseArgs would take everything after it as positional.
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: { sample: { type: 'string' }, out: { type: 'string' }, source: { type: 'string' }, seed: { type: 'string' } },
  });
  const number = (name: 'sample' | 'seed') => {
    const value = values[name];
    if (value === undefined) return undefined;
    if (!Number.isFinite(Number(value))) throw new Error(`--${name} expects a number, got ${JSON.stringify(value)}`);
    return Number(value);
  };
  const result = await runEmbeddingMapExample({ sample: number('sample'), out: values.out, source: values.source, seed: number('seed') });
  console.log(`wrote ${result.png} and ${result.svg} (${result.points} points) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
