import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStream } from '@ssl/core';
import pngjs from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ssl-cli-shards-'));
  for (const name of ['left', 'right']) {
    await mkdir(join(workDir, 'photos', name), { recursive: true });
    for (let i = 0; i < 5; i++) {
      const image = new pngjs.PNG({ width: 6, height: 6 });
      image.data.fill(255);
      for (let y = 0; y < 6; y++)
        for (let x = 0; x < 3; x++)
          image.data.fill(0, 4 * (y * 6 + (name === 'left' ? x : x + 3)), 4 * (y * 6 + (name === 'left' ? x : x + 3)) + 3);
      await writeFile(join(workDir, 'photos', name, `${i}.png`), pngjs.PNG.sync.write(image));
    }
  }
  await writeFile(join(workDir, 'photos', 'left', 'broken.png'), 'not a png');
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function run(...argv: string[]) {
  const io = bufferedIo(workDir);
  const code = await runCli(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

describe('ssl shards make', () => {
  it('writes shards of --shard-size samples from a folder, which a stream reads back with their classes', async () => {
    const { code, stdout, stderr } = await run('shards', 'make', 'photos', '--out', 'shards', '--shard-size', '4');
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('wrote shards/000000.tar (4 samples)');
    expect(stdout).toContain('wrote shards/000002.tar (2 samples)');
    expect(stdout).toContain('10 samples in 3 shards, 2 classes → shards');
    expect(stderr).toContain('broken.png: not a PNG or JPEG file');
    expect((await readdir(join(workDir, 'shards'))).sort()).toEqual(['000000.tar', '000001.tar', '000002.tar', 'dataset.json']);
    expect(JSON.parse(readFileSync(join(workDir, 'shards', 'dataset.json'), 'utf8')).classNames).toEqual(['left', 'right']);
    const stream = ImageStream.open(join(workDir, 'shards'), { size: [2, 2], channels: 1, workers: 0, cache: false });
    try {
      let seen = 0;
      for await (const batch of stream.batches(0, 5)) {
        for (let k = 0; k < 5; k++) {
          // left images are dark on the left: the first column of the 2×2 is black, the second white
          const [first, second] = batch.images.subarray(4 * k, 4 * k + 2);
          expect(batch.labels![k] === 0 ? first < second : first > second).toBe(true);
          seen++;
        }
      }
      expect(seen).toBe(10);
    } finally {
      await stream.close();
    }
  });

  it('refuses an --out that holds shards (exit 1, one line) and a bad --shard-size (exit 2)', async () => {
    const again = await run('shards', 'make', 'photos', '--out', 'shards');
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/already holds .tar shards/);
    expect((await run('shards', 'make', 'photos', '--out', 'other', '--shard-size', '0')).code).toBe(2);
  });
});

describe('ssl pretrain --data <shards>', () => {
  it('trains from the stream (images read per step, not loaded), and refuses shards where images must be in memory', async () => {
    const shards = await run('shards', 'make', 'photos', '--out', 'train-shards', '--shard-size', '4');
    expect(shards.code, shards.stderr).toBe(0);
    const flags = ['--image-size', '16', '--channels', '1', '--batch-size', '4', '--epochs', '2'];
    const trained = await run('pretrain', 'contrastive:simclr', '--data', 'train-shards', ...flags, '--no-eval', '--out', 'stream-run');
    expect(trained.code, trained.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(workDir, 'stream-run', 'config.json'), 'utf8')) as { data: unknown };
    // The trainer saw a streamed source: 10 decodable samples of 16×16×1, read by id.
    expect(config.data).toMatchObject({ size: 10, shape: [16, 16, 1], streamed: true });
    const steps = readFileSync(join(workDir, 'stream-run', 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('"type":"step"'));
    expect(steps).toHaveLength(4);

    const asEvaluation = await run(
      'pretrain',
      'contrastive:simclr',
      '--data',
      'photos',
      '--eval-data',
      'train-shards',
      ...flags,
      '--out',
      'x',
    );
    expect(asEvaluation.code).toBe(1);
    expect(asEvaluation.stderr).toMatch(
      /^ssl: error: --eval-data .*train-shards holds streamed shards; evaluation holds its images in memory/,
    );
    const semisup = await run(
      'semisup',
      'semisup:pseudo-label',
      '--data',
      'train-shards',
      '--labels-per-class',
      '1',
      ...flags,
      '--out',
      'y',
    );
    expect(semisup.code).toBe(1);
    expect(semisup.stderr).toMatch(/holds shards, which are streamed; semi-supervised runs need their images in memory/);
  }, 240_000);
});
