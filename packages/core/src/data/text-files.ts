import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { SslError } from '../errors';
import { textCorpus } from './text';
import type { TextCorpus } from './text';

/**
 * A text file as a corpus, one text a line (blank lines dropped); `.gz` files are gunzipped. The corpus is named
 * after the file.
 */
export function loadTextFile(path: string, name = basename(path)): TextCorpus {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new SslError('data', `loadTextFile: cannot read ${path}: ${(error as Error).message}`, { cause: error, details: { file: path } });
  }
  const text = (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
  return textCorpus(text.split('\n'), name);
}

/**
 * The English sentences bundled with @ssl/core (data/fortunes-sample, from ten prose files of Debian's `fortunes`,
 * BSD licence): 7156 training sentences and 795 held-out ones (`split: 'test'`), none repeating a training one.
 * `source`: 'sample' (default) or a folder holding train-sentences.txt.gz and test-sentences.txt.gz as
 * data/make-fortunes-sample.ts writes them (`--all`: every prose file of the package).
 */
export function loadFortunesSample(options: { split?: 'train' | 'test'; source?: 'sample' | (string & {}) } = {}): TextCorpus {
  const split = options.split ?? 'train';
  const dir = options.source === undefined || options.source === 'sample' ? findSample() : resolve(options.source);
  const file = join(dir, `${split}-sentences.txt.gz`);
  if (!existsSync(file)) throw new SslError('data', `loadFortunesSample: ${file} is missing; pass a folder that make-fortunes-sample.ts wrote.`);
  return loadTextFile(file, options.source === undefined || options.source === 'sample' ? `fortunes-sample/${split}` : `${dir}/${split}`);
}

function findSample(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'data', 'fortunes-sample');
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    dir = dirname(dir);
  }
  throw new SslError('data', 'loadFortunesSample: the bundled data/fortunes-sample folder of @ssl/core is missing; reinstall @ssl/core.');
}
