import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImageFolder } from '../data/image-folder';
import { ImageStream } from '../data/stream/image-stream';
import { useTestBackend } from './fixtures/backend';
import { toyDataset, toyEncoder, toyRegistry } from './fixtures/toy-method';
import { train } from './trainer';

beforeAll(useTestBackend);
const tmp = mkdtempSync(join(tmpdir(), 'ssl-stream-training-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('training from an ImageStream', () => {
  it('gives the loss curve of the same images in memory, and resumes', async () => {
    const toy = toyDataset();
    for (let n = 0; n < toy.size; n++) {
      const dir = join(tmp, 'toy', `class${toy.labels![n]}`);
      mkdirSync(dir, { recursive: true });
      const png = new pngjs.PNG({ width: 12, height: 12 });
      for (let p = 0; p < 144; p++) png.data.set([toy.images[n * 144 + p], toy.images[n * 144 + p], toy.images[n * 144 + p], 255], 4 * p);
      writeFileSync(join(dir, `${String(n).padStart(3, '0')}.png`), pngjs.PNG.sync.write(png));
    }
    const registry = toyRegistry();
    const inMemory = await loadImageFolder(join(tmp, 'toy'), { size: [12, 12], channels: 1 });
    const run = async (data: Parameters<typeof train>[0]['data'], extra: Partial<Parameters<typeof train>[0]> = {}) => {
      const result = await train({
        method: registry.create('test:toy'),
        data,
        encoder: toyEncoder,
        epochs: 2,
        batchSize: 8,
        seed: 5,
        ...extra,
      });
      const losses = result.history.map((r) => r.loss);
      result.dispose();
      return losses;
    };
    const memoryLosses = await run(inMemory);
    const stream = ImageStream.open(join(tmp, 'toy'), { size: [12, 12], channels: 1, workers: 1, cache: false });
    try {
      const streamLosses = await run(stream);
      expect(streamLosses).toHaveLength(12);
      expect(streamLosses).toEqual(memoryLosses);
      const out = join(tmp, 'run');
      const controller = new AbortController();
      const stopAfterSeven = { name: 'stop', onStepEnd: (record: { step: number }) => void (record.step === 6 && controller.abort()) };
      expect(await run(stream, { outDir: out, signal: controller.signal, callbacks: [stopAfterSeven] })).toEqual(memoryLosses.slice(0, 7));
      const resumed = await run(stream, { outDir: out, resume: true });
      expect(resumed).toEqual(memoryLosses.slice(7));
    } finally {
      await stream.close();
    }
  });
});
