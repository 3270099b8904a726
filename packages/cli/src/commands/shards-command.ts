import { makeShards } from '@ssl/core';
import { relative, resolve } from 'node:path';
import type { CliIo } from '../cli-io';

export interface ShardsMakeOptions {
  source: string;
  out: string;
  shardSize: number;
  seed: number;
  shuffle: boolean;
  overwrite: boolean;
}

/** A path as the user would type it: relative under the working directory, absolute elsewhere. */
function shown(cwd: string, path: string): string {
  const relativePath = relative(cwd, path);
  return relativePath === '' || relativePath.startsWith('..') ? path : relativePath;
}

/** `ssl shards make`: WebDataset shards from an image folder or an image–caption JSONL, one line per shard written. */
export function runShardsMakeCommand(io: CliIo, options: ShardsMakeOptions): void {
  const started = performance.now();
  const out = resolve(io.cwd, options.out);
  const result = makeShards(resolve(io.cwd, options.source), {
    out,
    shardSize: options.shardSize,
    seed: options.seed,
    shuffle: options.shuffle,
    overwrite: options.overwrite,
    onShard: (path, samples) => io.stdout.write(`wrote ${shown(io.cwd, path)} (${samples} samples)\n`),
  });
  for (const path of result.skipped.slice(0, 10)) io.stderr.write(`ssl: warning: skipped ${path}: not a PNG or JPEG file\n`);
  if (result.skipped.length > 10) io.stderr.write(`ssl: warning: ${result.skipped.length - 10} more files skipped\n`);
  const classes = result.classNames ? `, ${result.classNames.length} classes` : '';
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  io.stdout.write(
    `${result.samples} samples in ${result.shards.length} shards${classes} → ${shown(io.cwd, out)} (${seconds} s; ${result.skipped.length} skipped)\n`,
  );
}
