import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveCacheDir } from '@ssl/core';
import type { ImageDataset } from '@ssl/core';
import type { ComparisonRow, ControlCache, ControlScoreStore } from '@ssl/eval';

/**
 * The controls' scores (raw pixels, the random init) of earlier evaluations, as JSON files under the cache
 * directory ($SSL_CACHE_DIR, $XDG_CACHE_HOME/ssl or ~/.cache/ssl) in control-scores/, one file per key. Keyed by
 * a hash of the evaluation images and labels as the encoder sees them, so a second run on the same data skips
 * about half of its evaluation. SSL_CONTROL_CACHE=0 turns it off (e.g. while changing initialisation code).
 */
export function controlScoreCache(train: ImageDataset, test: ImageDataset): ControlCache | undefined {
  if (process.env.SSL_CONTROL_CACHE === '0') return undefined;
  return { store: fileStore(join(resolveCacheDir(), 'control-scores')), dataKey: datasetHash(train, test) };
}

/** sha256 of the images, labels and shapes of both splits. */
function datasetHash(...datasets: ImageDataset[]): string {
  const hash = createHash('sha256');
  for (const dataset of datasets) {
    hash.update(JSON.stringify({ shape: dataset.shape, size: dataset.size }));
    hash.update(dataset.images);
    if (dataset.labels) hash.update(new Uint8Array(dataset.labels.buffer, dataset.labels.byteOffset, dataset.labels.byteLength));
  }
  return hash.digest('hex');
}

function fileStore(dir: string): ControlScoreStore {
  const fileOf = (key: string) => join(dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
  return {
    async get(key) {
      const stored = JSON.parse(await readFile(fileOf(key), 'utf8')) as { key: string; row: ComparisonRow };
      return stored.key === key ? stored.row : undefined;
    },
    async set(key, row) {
      await mkdir(dir, { recursive: true });
      // Written aside and renamed, so a reader never sees half a file.
      const file = fileOf(key);
      const partial = `${file}.${process.pid}.partial`;
      await writeFile(partial, JSON.stringify({ key, row }));
      await rename(partial, file);
    },
  };
}
