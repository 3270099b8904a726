/**
 * Writes WebDataset shards (`000000.tar`, `000001.tar`, …, each `shardSize` samples: `<key>.jpg|png` with the
 * file's bytes as they are, `<key>.cls` with the class index, `<key>.txt` with the caption) from an image folder
 * or an image–caption JSONL, plus `dataset.json` (class names, counts). Samples are shuffled before they are
 * cut into shards (seeded), as WebDataset advises, so that each shard holds every class and a stream's shard
 * shuffle + buffer gives well-mixed batches.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { SslError } from '../../errors';
import { Random } from '../../random';
import { parseJsonlPairs } from '../image-text';
import { SHARDS_MANIFEST, buildSampleIndex } from './sample-index';
import { TarWriter } from './tar';

export interface MakeShardsOptions {
  /** Output directory (created; refused when it already holds .tar files, unless overwrite). */
  readonly out: string;
  /** Samples per shard (WebDataset usually 1 000 – 10 000; default 10 000). */
  readonly shardSize?: number;
  /** Seed of the shuffle before sharding (default 0); shuffle: false keeps the sorted order. */
  readonly seed?: number;
  readonly shuffle?: boolean;
  readonly overwrite?: boolean;
  /** Folder only: class sub-folders (default: when the folder holds sub-folders and no images at its top). */
  readonly labeled?: boolean;
  /** Called after each shard is written. */
  readonly onShard?: (path: string, samples: number) => void;
}

export interface MakeShardsResult {
  readonly shards: string[];
  readonly samples: number;
  /** Files skipped because they are not PNG or JPEG by their first bytes. */
  readonly skipped: string[];
  readonly classNames?: readonly string[];
}

interface SourceSample {
  readonly path: string;
  readonly label?: number;
  readonly caption?: string;
}

/** The image type by magic number ('jpg' | 'png'), or undefined; reads the file's first 8 bytes only. */
function imageKind(path: string): 'jpg' | 'png' | undefined {
  const head = new Uint8Array(8);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 8, 0);
  } finally {
    closeSync(fd);
  }
  if (head[0] === 0x89 && head[1] === 0x50 && head[2] === 0x4e && head[3] === 0x47) return 'png';
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpg';
  return undefined;
}

function samplesOf(source: string, labeled: boolean | undefined): { samples: SourceSample[]; classNames?: readonly string[] } {
  if (extname(source).toLowerCase() === '.jsonl') {
    let text: string;
    try {
      text = readFileSync(source, 'utf8');
    } catch (cause) {
      throw new SslError('data', `${source}: cannot read the pairs file (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}).`, { cause });
    }
    const base = dirname(resolve(source));
    const samples = parseJsonlPairs(text, source).map((pair) => ({ path: isAbsolute(pair.image) ? pair.image : resolve(base, pair.image), caption: pair.caption }));
    if (samples.length === 0) throw new SslError('data', `${source}: holds no image-caption pairs.`);
    return { samples };
  }
  const index = buildSampleIndex(source, { labeled, cache: false });
  if (index.kind !== 'folder') throw new SslError('data', `${source}: already holds .tar shards; give an image folder or a .jsonl of image–caption pairs.`);
  const samples = index.files.map((file, i) => ({ path: join(index.root, file), label: index.labels?.[i] }));
  return { samples, classNames: index.classNames };
}

/** Writes shards of `source` (an image folder or a .jsonl of {"image", "caption"} lines) into options.out. */
export function makeShards(source: string, options: MakeShardsOptions): MakeShardsResult {
  const shardSize = options.shardSize ?? 10_000;
  if (!Number.isInteger(shardSize) || shardSize <= 0) throw new SslError('invalid-config', `makeShards: shardSize must be a positive integer, got ${shardSize}.`);
  const out = resolve(options.out);
  if (existsSync(out) && !options.overwrite && readdirSync(out).some((name) => name.endsWith('.tar'))) {
    throw new SslError('data', `${out} already holds .tar shards; choose another --out or pass --overwrite.`, { details: { dir: out } });
  }
  const { samples, classNames } = samplesOf(source, options.labeled);
  const order = options.shuffle === false ? Int32Array.from(samples.keys()) : new Random(options.seed ?? 0).permutation(samples.length);
  mkdirSync(out, { recursive: true });
  const shards: string[] = [];
  const skipped: string[] = [];
  let writer: TarWriter | undefined;
  let inShard = 0;
  let written = 0;
  const finishShard = () => {
    if (!writer) return;
    writer.close();
    options.onShard?.(writer.path, inShard);
    writer = undefined;
    inShard = 0;
  };
  for (const position of order) {
    const sample = samples[position];
    const kind = imageKind(sample.path);
    if (!kind) {
      skipped.push(sample.path);
      continue;
    }
    if (!writer) {
      const path = join(out, `${String(shards.length).padStart(6, '0')}.tar`);
      shards.push(path);
      writer = new TarWriter(path);
    }
    // Keys are the sample's number: unique, dot-free, and short enough for ustar names.
    const key = String(written).padStart(9, '0');
    writer.add(`${key}.${kind}`, readFileSync(sample.path));
    if (sample.label !== undefined) writer.add(`${key}.cls`, Buffer.from(String(sample.label)));
    if (sample.caption !== undefined) writer.add(`${key}.txt`, Buffer.from(sample.caption));
    written++;
    inShard++;
    if (inShard === shardSize) finishShard();
  }
  finishShard();
  if (written === 0) throw new SslError('data', `${source}: no PNG or JPEG image to write.`);
  const manifest = { source: resolve(source), samples: written, shards: shards.length, shardSize, classNames: classNames ?? null, skipped: skipped.length };
  writeFileSync(join(out, SHARDS_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return { shards, samples: written, skipped, classNames };
}
