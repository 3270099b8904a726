import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageStream, TarWriter, type ImageDataset } from '@ssl/core';
import pngjs from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_FOLDER_MIN_IMAGES, describeCorruptImages, loadRunData } from '../src/load-run-data';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

let workDir: string;

function png(shade: number): Buffer {
  const image = new pngjs.PNG({ width: 6, height: 6 });
  for (let p = 0; p < 36; p++) image.data.set([shade, 255 - shade, 90, 255], 4 * p);
  return pngjs.PNG.sync.write(image);
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ssl-cli-streamed-'));
  for (const name of ['a', 'b']) {
    await mkdir(join(workDir, 'folder', name), { recursive: true });
    for (let i = 0; i < 5; i++) await writeFile(join(workDir, 'folder', name, `${i}.png`), png(40 * i + (name === 'a' ? 0 : 20)));
  }
  // Shards with one truncated image: its header says PNG, so `ssl shards make` would have kept it too.
  await mkdir(join(workDir, 'shards'));
  for (let s = 0; s < 2; s++) {
    const writer = new TarWriter(join(workDir, 'shards', `00000${s}.tar`));
    for (let i = 0; i < 5; i++) writer.add(`s${s}i${i}.png`, png(50 * i + s));
    if (s === 1) writer.add('truncated.png', png(7).subarray(0, 50));
    writer.close();
  }
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

const isStreamed = (data: unknown): data is ImageStream => data instanceof ImageStream;

describe('streamed training data', () => {
  it('streams an image folder of at least STREAM_FOLDER_MIN_IMAGES images, and loads a smaller one into memory', async () => {
    expect(STREAM_FOLDER_MIN_IMAGES).toBe(50_000);
    const options = { geometry: { size: 8, channels: 3 as const }, seed: 0, needEvaluation: true };
    const source = { kind: 'image-folder' as const, path: join(workDir, 'folder') };
    const small = await loadRunData(source, options);
    expect(isStreamed(small.train)).toBe(false);
    expect((small.train as ImageDataset).size).toBe(8); // 80 % of 10, the rest held out for evaluation
    expect(small.streamed).toBeUndefined();
    const large = await loadRunData(source, { ...options, streamFolderMinImages: 10 });
    try {
      expect(isStreamed(large.train)).toBe(true);
      expect((large.train as ImageStream).size).toBe(10);
      expect(large.streamed).toMatch(/^streaming 10 images \(an image folder\): read and decoded by \d+ worker thread/);
      // Evaluation of a streamed set comes from --eval-data only: nothing is held out in memory.
      expect(large.evaluationTest).toBeUndefined();
      expect(large.corruptImages?.()).toBeUndefined();
    } finally {
      await large.close?.();
    }
    // A semi-supervised run keeps its folder in memory (its labeled split is drawn from it), whatever the size.
    const semisup = await loadRunData(source, { ...options, streamFolderMinImages: 10, labelsPerClass: 1 });
    expect(isStreamed(semisup.train)).toBe(false);
  });

  it('says how a corrupt image was handled: the count, the first few keys, and how many more', () => {
    const samples = Array.from({ length: 7 }, (_, i) => ({ key: `class_1/${i}.jpg`, message: 'premature end of JPEG image' }));
    expect(describeCorruptImages({ count: 118, samples }, 200_000)).toBe(
      '118 of 200,000 images could not be decoded and were skipped (each replaced by the next image of the set): ' +
        samples
          .slice(0, 5)
          .map((s) => `${s.key} (${s.message})`)
          .join(', ') +
        ', and 113 more',
    );
  });

  it('ssl pretrain on shards prints the streaming line and, after training, the images it could not decode', async () => {
    const io = bufferedIo(workDir);
    // One step of all 11 samples, so the truncated one is met.
    const argv = ['pretrain', 'contrastive:simclr', '--data', 'shards', '--image-size', '8', '--channels', '3', '--batch-size', '11'];
    const code = await runCli([...argv, '--epochs', '1', '--no-eval', '--out', 'run'], io);
    expect(code, io.err()).toBe(0);
    expect(io.err()).toContain('ssl: streaming 11 images (2 shards): read and decoded by');
    expect(io.err()).toMatch(
      /ssl: 1 of 11 images could not be decoded and were skipped \(each replaced by the next image of the set\): truncated \(/,
    );
  }, 120_000);
});
