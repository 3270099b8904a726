import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { isSslError } from '../../errors';
import { loadImageFile } from '../image-folder';
import { ImageStream } from './image-stream';
import { buildSampleIndex, sampleIndexCacheFile } from './sample-index';
import { streamOrder } from './stream-order';
import { TarWriter, listTarMembers } from './tar';

const tmp = mkdtempSync(join(tmpdir(), 'ssl-stream-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A PNG whose colour encodes its number, so a decoded row says which file it came from. */
function png(n: number, width = 12, height = 10): Buffer {
  const image = new pngjs.PNG({ width, height });
  for (let p = 0; p < width * height; p++) image.data.set([(n * 37) % 256, (n * 11) % 256, n % 7 === 0 ? 255 : 40, 255], 4 * p);
  return pngjs.PNG.sync.write(image);
}

function jpg(n: number, width = 16, height = 16): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set([(n * 37) % 256, (n * 11) % 256, 90, 255], 4 * p);
  return jpeg.encode({ width, height, data }, 90).data;
}

async function collect(stream: ImageStream, epoch: number, batchSize: number, from = 0, dropLast = true) {
  const batches = [];
  for await (const batch of stream.batches(epoch, batchSize, { from, dropLast })) batches.push(batch);
  return batches;
}

describe('tar shards', () => {
  it('writes ustar archives that GNU tar lists, and lists members of archives GNU tar wrote (long names too)', () => {
    const path = join(tmp, 'roundtrip.tar');
    const writer = new TarWriter(path);
    writer.add('000001.jpg', new Uint8Array([1, 2, 3]));
    writer.add('000001.cls', new TextEncoder().encode('4'));
    writer.add('000002.jpg', new Uint8Array(1000).fill(9));
    writer.close();
    const members = listTarMembers(path);
    expect(members.map((m) => [m.name, m.size])).toEqual([
      ['000001.jpg', 3],
      ['000001.cls', 1],
      ['000002.jpg', 1000],
    ]);
    const bytes = readFileSync(path);
    expect(Array.from(bytes.subarray(members[0].offset, members[0].offset + 3))).toEqual([1, 2, 3]);
    const gnuTar = spawnSync('tar', ['-tf', path], { encoding: 'utf8' });
    if (gnuTar.status === null) return; // no tar binary here
    expect(gnuTar.stdout.trim().split('\n')).toEqual(['000001.jpg', '000001.cls', '000002.jpg']);
    // A GNU/pax archive with a member name beyond ustar's 100 bytes.
    const source = join(tmp, 'gnu');
    const longName = `${'d'.repeat(60)}/${'k'.repeat(70)}.png`;
    mkdirSync(join(source, dirname(longName)), { recursive: true });
    writeFileSync(join(source, longName), png(1));
    const gnuPath = join(tmp, 'gnu.tar');
    expect(spawnSync('tar', ['-cf', gnuPath, '-C', source, longName]).status).toBe(0);
    const gnuMembers = listTarMembers(gnuPath);
    expect(gnuMembers.map((m) => m.name)).toEqual([longName]);
    expect(readFileSync(gnuPath).subarray(gnuMembers[0].offset, gnuMembers[0].offset + gnuMembers[0].size)).toEqual(png(1));
  });
});

describe('streamOrder', () => {
  // 10 shards of 20 samples
  const groups = Int32Array.from({ length: 11 }, (_, g) => 20 * g);
  const take = (seed: number, epoch: number, buffer: number) => [...streamOrder(groups, seed, epoch, buffer)];

  it('visits every sample once, deterministically per (seed, epoch), differently across epochs and seeds', () => {
    const order = take(3, 0, 50);
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(take(3, 0, 50)).toEqual(order);
    expect(take(3, 1, 50)).not.toEqual(order);
    expect(take(4, 0, 50)).not.toEqual(order);
  });

  it('reads shards whole without a buffer, and mixes them through one', () => {
    const shardOf = (id: number) => Math.floor(id / 20);
    const plain = take(3, 0, 1);
    for (let k = 0; k < 200; k += 20) expect(new Set(plain.slice(k, k + 20).map(shardOf)).size).toBe(1);
    const mixed = take(3, 0, 50);
    expect(new Set(mixed.slice(0, 20).map(shardOf)).size).toBeGreaterThan(2);
  });
});

describe('ImageStream over an image folder', () => {
  const root = join(tmp, 'folder');
  mkdirSync(join(root, 'cats', 'nested'), { recursive: true });
  mkdirSync(join(root, 'dogs'), { recursive: true });
  for (let i = 0; i < 12; i++) writeFileSync(join(root, i < 4 ? join('cats', 'nested') : 'cats', `c${i}.png`), png(i));
  for (let i = 12; i < 25; i++) writeFileSync(join(root, 'dogs', `d${i}.jpg`), jpg(i));
  writeFileSync(join(root, 'dogs', 'broken.jpg'), jpg(99).subarray(0, 40));
  writeFileSync(join(root, 'dogs', 'notes.txt'), 'not an image');

  it('streams every readable image once per epoch with its class, decoded as loadImageFile does; skips and counts the corrupt one', async () => {
    const warnings: string[] = [];
    const stream = ImageStream.open(root, { size: [8, 8], channels: 3, workers: 2, cache: false, onWarning: (m) => warnings.push(m) });
    try {
      expect(stream.size).toBe(26);
      expect(stream.classNames).toEqual(['cats', 'dogs']);
      const batches = await collect(stream, 0, 5, 0, false);
      const keys = batches.flatMap((b) => b.keys);
      expect(keys).toHaveLength(25);
      expect(new Set(keys).size).toBe(25);
      expect(keys).not.toContain(join('dogs', 'broken.jpg'));
      expect(stream.corrupt.count).toBe(1);
      expect(warnings.some((w) => w.includes('broken.jpg'))).toBe(true);
      // A batch's position counts the samples of the order it consumed, the skipped corrupt one included.
      const order = [...stream.order(0)];
      for (const batch of batches) expect(batch.position).toBe(order.indexOf(batch.ids.at(-1)!) + 1);
      for (const batch of batches.slice(0, 2)) {
        for (let k = 0; k < batch.keys.length; k++) {
          expect(batch.labels![k]).toBe(batch.keys[k].startsWith('cats') ? 0 : 1);
          const expected = await loadImageFile(join(root, batch.keys[k]), { size: [8, 8], channels: 3 });
          expect(Array.from(batch.images.subarray(k * 192, (k + 1) * 192))).toEqual(Array.from(expected));
        }
      }
    } finally {
      await stream.close();
    }
  });

  it('reads samples by id (random access, prefetched), replacing a corrupt one by the next decodable sample', async () => {
    const stream = ImageStream.open(root, { size: [8, 8], channels: 3, workers: 1, cache: false, onWarning: () => {} });
    try {
      const broken = stream.index.keys.indexOf(join('dogs', 'broken.jpg'));
      const ids = [3, broken, 0];
      stream.prefetch(ids);
      const { images, ids: used } = await stream.read(ids);
      expect(Array.from(used)).toEqual([3, broken + 1, 0]);
      for (let k = 0; k < 3; k++) {
        const expected = await loadImageFile(join(root, stream.index.keys[used[k]]), { size: [8, 8], channels: 3 });
        expect(Array.from(images.subarray(k * 192, (k + 1) * 192))).toEqual(Array.from(expected));
      }
      expect(stream.corrupt.count).toBe(1);
      expect(() => stream.prefetch([stream.size])).toThrow(/outside/);
    } finally {
      await stream.close();
    }
  });

  it('keeps at most (prefetchBatches + 1) × batchSize images in flight, whatever the size of the set', async () => {
    const stream = ImageStream.open(root, { size: [8, 8], channels: 3, workers: 1, cache: false, prefetchBatches: 1, onWarning: () => {} });
    let inFlight = 0;
    let peak = 0;
    const decode = stream.pool.decode.bind(stream.pool);
    stream.pool.decode = async (job) => {
      peak = Math.max(peak, ++inFlight);
      try {
        return await decode(job);
      } finally {
        inFlight--;
      }
    };
    try {
      let batches = 0;
      for await (const batch of stream.batches(0, 3)) {
        batches++;
        // A slow consumer: the stream must wait for it, not read ahead without bound.
        await new Promise((resolveWait) => setTimeout(resolveWait, 5));
        expect(batch.ids).toHaveLength(3);
      }
      expect(batches).toBe(8);
      expect(peak).toBe(2 * 3);
    } finally {
      await stream.close();
    }
  });

  it("stops with SslError('data') on a corrupt file when onCorrupt is 'error'", async () => {
    const stream = ImageStream.open(root, { size: [8, 8], channels: 1, workers: 0, cache: false, onCorrupt: 'error' });
    try {
      const failure = await collect(stream, 0, 4).catch((error: unknown) => error);
      expect(isSslError(failure, 'data')).toBe(true);
      expect((failure as Error).message).toContain('broken.jpg');
    } finally {
      await stream.close();
    }
  });
});

describe('ImageStream over WebDataset shards', () => {
  const dir = join(tmp, 'shards');
  mkdirSync(dir, { recursive: true });
  // 4 shards × 9 samples; sample 13 has a corrupt image, sample 30 no image at all.
  for (let s = 0; s < 4; s++) {
    const writer = new TarWriter(join(dir, `${String(s).padStart(6, '0')}.tar`));
    for (let i = 9 * s; i < 9 * s + 9; i++) {
      const key = `sample${String(i).padStart(4, '0')}`;
      if (i !== 30) writer.add(`${key}.jpg`, i === 13 ? jpg(i).subarray(0, 50) : jpg(i));
      writer.add(`${key}.cls`, new TextEncoder().encode(String(i % 3)));
      writer.add(`${key}.txt`, new TextEncoder().encode(`picture ${i}`));
    }
    writer.close();
  }
  const cacheDir = join(tmp, 'cache');
  const options = { size: [8, 8] as [number, number], channels: 3 as const, seed: 7, shuffleBuffer: 16, workers: 2, cacheDir, onWarning: () => {} };

  it('indexes keys, labels and captions once, then reads the cached index until a shard changes', () => {
    const index = buildSampleIndex(dir, { cacheDir });
    expect(index.kind).toBe('shards');
    expect(index.keys).toHaveLength(35);
    expect(index.skipped).toBe(1);
    expect(Array.from(index.groupStart)).toEqual([0, 9, 18, 27, 35]);
    expect(index.labels![5]).toBe(5 % 3);
    expect(index.captions![5]).toBe('picture 5');
    const cacheFile = sampleIndexCacheFile(dir, cacheDir);
    expect(existsSync(cacheFile)).toBe(true);
    // The cache is what is read: tamper with it and the tampered caption comes back...
    writeFileSync(cacheFile, readFileSync(cacheFile, 'utf8').replace('picture 5', 'from the cache'));
    expect(buildSampleIndex(dir, { cacheDir }).captions![5]).toBe('from the cache');
    // ...until a shard's modification time changes.
    const shard = join(dir, '000000.tar');
    utimesSync(shard, new Date(), new Date(Date.now() + 5000));
    expect(buildSampleIndex(dir, { cacheDir }).captions![5]).toBe('picture 5');
  });

  it('gives the same batches for the same (seed, epoch), others for another epoch, and resumes at a position', async () => {
    const stream = ImageStream.open(dir, options);
    try {
      const first = await collect(stream, 2, 4);
      expect(first).toHaveLength(8); // 34 decodable samples → 8 full batches
      expect(stream.corrupt.count).toBe(1);
      expect(first.flatMap((b) => b.captions)).toContain('picture 0');
      const again = await collect(stream, 2, 4);
      expect(again.map((b) => b.keys)).toEqual(first.map((b) => b.keys));
      expect(Buffer.from(again[3].images).equals(Buffer.from(first[3].images))).toBe(true);
      const other = await collect(stream, 3, 4);
      expect(other.map((b) => b.keys)).not.toEqual(first.map((b) => b.keys));
      const resumed = await collect(stream, 2, 4, first[2].position);
      expect(resumed.map((b) => b.keys)).toEqual(first.slice(3).map((b) => b.keys));
    } finally {
      await stream.close();
    }
  });

  it('SIGKILL mid-epoch, then resume from the saved position: the same samples as an uninterrupted epoch', async () => {
    const child = fileURLToPath(new URL('./fixtures/consume-stream.ts', import.meta.url));
    const run = (state: string, log: string, stallAfter?: number) =>
      new Promise<string>((resolvePromise, reject) => {
        const proc = spawn(process.execPath, ['--conditions=@ssl/source', '--import', 'tsx', child, dir, state, log, '4', '5'], {
          env: { ...process.env, ...(stallAfter ? { STALL_AFTER: String(stallAfter) } : {}) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        proc.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('stalled')) proc.kill('SIGKILL');
        });
        proc.on('error', reject);
        proc.on('exit', (code, signal) => resolvePromise(signal ?? String(code)));
      });
    const whole = join(tmp, 'whole');
    expect(await run(`${whole}.json`, `${whole}.log`)).toBe('0');
    const killed = join(tmp, 'killed');
    expect(await run(`${killed}.json`, `${killed}.log`, 3)).toBe('SIGKILL');
    expect(readFileSync(`${killed}.log`, 'utf8').trim().split('\n')).toHaveLength(12);
    expect(await run(`${killed}.json`, `${killed}.log`)).toBe('0');
    const keys = (path: string) => readFileSync(path, 'utf8').trim().split('\n');
    expect(keys(`${killed}.log`)).toEqual(keys(`${whole}.log`));
    expect(keys(`${whole}.log`)).toHaveLength(32);
  }, 60_000);
});
