import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSslError } from '../errors';
import { encodeIdx, loadIdx } from './idx';
import { loadImageFolder } from './image-folder';
import { loadImageTextPairs } from './image-text';
import { FASHION_MNIST, downloadIdxDataset, loadFashionMnist, loadMnist, type IdxDatasetSpec } from './mnist';

const DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ssl-data-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function expectDataError(promise: Promise<unknown>, mentions: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isSslError(error, 'data'), `expected SslError('data'), got ${String(error)}`).toBe(true);
  expect((error as Error).message).toContain(mentions);
}

describe('Fashion-MNIST sample', () => {
  it.each([
    ['train', 3000, 300],
    ['test', 1000, 100],
  ] as const)('%s split: size, balanced labels 0-9, full pixel range', async (split, size, perClass) => {
    const ds = await loadFashionMnist({ split, source: 'sample' });
    expect(ds.size).toBe(size);
    expect(ds.shape).toEqual([28, 28, 1]);
    expect(ds.images.length).toBe(size * 784);
    expect(ds.numClasses).toBe(10);
    expect(ds.classNames?.[9]).toBe('Ankle boot');
    const counts = new Array(10).fill(0);
    for (const label of ds.labels!) counts[label]++;
    expect(counts).toEqual(new Array(10).fill(perClass));
    let min = 255;
    let max = 0;
    for (const v of ds.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect([min, max]).toEqual([0, 255]);
    // Shuffled, not sorted by class: the first 50 labels are not all one class.
    expect(new Set(ds.labels!.subarray(0, 50)).size).toBeGreaterThan(5);
  });
});

describe.runIf(existsSync(DEBIAN_DIR))('full Fashion-MNIST (Debian copy)', () => {
  it('auto finds 60000 train and 10000 test images with labels 0-9', async () => {
    const previous = process.env.SSL_DATA_DIR;
    delete process.env.SSL_DATA_DIR;
    try {
      const train = await loadFashionMnist({ split: 'train', source: 'full' });
      const test = await loadFashionMnist({ split: 'test' });
      expect(train.size).toBe(60000);
      expect(test.size).toBe(10000);
      const labels = new Set(train.labels);
      expect([...labels].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      if (previous !== undefined) process.env.SSL_DATA_DIR = previous;
    }
  });
});

describe('loadIdx', () => {
  const images = Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => i);
  const labels = Uint8Array.from([2, 0, 1]);

  it('reads gzipped and plain files', async () => {
    writeFileSync(join(tmp, 'img.gz'), encodeIdx([3, 4, 5], images));
    writeFileSync(join(tmp, 'lab'), encodeIdx([3], labels, { gzip: false }));
    const ds = await loadIdx(join(tmp, 'img.gz'), join(tmp, 'lab'));
    expect(ds.shape).toEqual([4, 5, 1]);
    expect(ds.size).toBe(3);
    expect(Array.from(ds.labels!)).toEqual([2, 0, 1]);
    expect(Array.from(ds.images)).toEqual(Array.from(images));
  });

  it('rejects a truncated file, naming it', async () => {
    const full = encodeIdx([3, 4, 5], images, { gzip: false });
    writeFileSync(join(tmp, 'truncated'), full.subarray(0, full.length - 7));
    await expectDataError(loadIdx(join(tmp, 'truncated')), 'truncated');
    const gz = encodeIdx([3, 4, 5], images);
    writeFileSync(join(tmp, 'truncated.gz'), gz.subarray(0, gz.length - 10));
    await expectDataError(loadIdx(join(tmp, 'truncated.gz')), join(tmp, 'truncated.gz'));
  });

  it('rejects a wrong magic number', async () => {
    const bad = encodeIdx([3, 4, 5], images, { gzip: false });
    bad[0] = 0x42;
    writeFileSync(join(tmp, 'badmagic'), bad);
    await expectDataError(loadIdx(join(tmp, 'badmagic')), `${join(tmp, 'badmagic')}: not an IDX file`);
  });

  it('rejects an image/label count mismatch', async () => {
    writeFileSync(join(tmp, 'img2.gz'), encodeIdx([3, 4, 5], images));
    writeFileSync(join(tmp, 'lab2.gz'), encodeIdx([2], Uint8Array.from([1, 1])));
    await expectDataError(loadIdx(join(tmp, 'img2.gz'), join(tmp, 'lab2.gz')), 'holds 2 labels but');
  });

  it('rejects a missing file and swapped files', async () => {
    await expectDataError(loadIdx(join(tmp, 'nope.gz')), 'nope.gz');
    writeFileSync(join(tmp, 'lab3.gz'), encodeIdx([3], labels));
    await expectDataError(loadIdx(join(tmp, 'lab3.gz')), 'swap');
  });
});

describe('download', () => {
  let server: Server;
  let baseUrl: string;
  const served = new Map<string, Uint8Array>();

  beforeAll(async () => {
    const pixels = Uint8Array.from({ length: 2 * 28 * 28 }, (_, i) => i % 256);
    served.set('/train-images-idx3-ubyte.gz', encodeIdx([2, 28, 28], pixels));
    served.set('/train-labels-idx1-ubyte.gz', encodeIdx([2], Uint8Array.from([3, 7])));
    served.set('/t10k-images-idx3-ubyte.gz', encodeIdx([1, 28, 28], pixels.subarray(0, 784)));
    served.set('/t10k-labels-idx1-ubyte.gz', encodeIdx([1], Uint8Array.from([5])));
    server = createServer((req, res) => {
      const body = served.get(req.url ?? '');
      if (!body) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.end(Buffer.from(body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
  const spec = (mirrors: string[], corruptMd5 = false): IdxDatasetSpec => ({
    ...FASHION_MNIST,
    id: 'fake-mnist',
    mirrors,
    files: {
      trainImages: { name: 'train-images-idx3-ubyte.gz', md5: corruptMd5 ? '0'.repeat(32) : md5(served.get('/train-images-idx3-ubyte.gz')!) },
      trainLabels: { name: 'train-labels-idx1-ubyte.gz', md5: md5(served.get('/train-labels-idx1-ubyte.gz')!) },
      testImages: { name: 't10k-images-idx3-ubyte.gz', md5: md5(served.get('/t10k-images-idx3-ubyte.gz')!) },
      testLabels: { name: 't10k-labels-idx1-ubyte.gz', md5: md5(served.get('/t10k-labels-idx1-ubyte.gz')!) },
    },
  });

  it('downloads, verifies MD5 and caches; a wrong checksum is a data error and nothing is kept', async () => {
    const cache = join(tmp, 'cache-bad');
    await expectDataError(downloadIdxDataset(spec([baseUrl], true), cache), 'does not match the published');
    expect(existsSync(join(cache, 'fake-mnist', 'train-images-idx3-ubyte.gz'))).toBe(false);

    const good = join(tmp, 'cache-good');
    const dir = await downloadIdxDataset(spec(['http://127.0.0.1:1/', baseUrl]), good);
    expect(readFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'))).toEqual(Buffer.from(served.get('/t10k-labels-idx1-ubyte.gz')!));
    const ds = await loadIdx(join(dir, 'train-images-idx3-ubyte.gz'), join(dir, 'train-labels-idx1-ubyte.gz'));
    expect(Array.from(ds.labels!)).toEqual([3, 7]);
  });

  it('offline: a clear error saying how to get the files', async () => {
    const previous = process.env.SSL_DATA_DIR;
    delete process.env.SSL_DATA_DIR;
    try {
      await expectDataError(downloadIdxDataset(spec(['http://127.0.0.1:1/']), join(tmp, 'offline')), 'SSL_DATA_DIR');
      await expectDataError(loadMnist({ source: 'sample' }), 'no bundled MNIST sample');
    } finally {
      if (previous !== undefined) process.env.SSL_DATA_DIR = previous;
    }
  });

  it('an explicit folder and SSL_DATA_DIR are used before anything else', async () => {
    const folder = join(tmp, 'explicit');
    mkdirSync(folder, { recursive: true });
    for (const [path, body] of served) writeFileSync(join(folder, path.slice(1)), body);
    const explicit = await loadFashionMnist({ source: folder });
    expect(explicit.size).toBe(2);
    const previous = process.env.SSL_DATA_DIR;
    process.env.SSL_DATA_DIR = tmp;
    mkdirSync(join(tmp, 'fashion-mnist'), { recursive: true });
    for (const [path, body] of served) writeFileSync(join(tmp, 'fashion-mnist', path.slice(1)), body);
    try {
      expect((await loadFashionMnist({ split: 'test' })).size).toBe(1);
      await expectDataError(loadFashionMnist({ split: 'test', source: 'full' }), 'full dataset has 10000');
    } finally {
      if (previous === undefined) delete process.env.SSL_DATA_DIR;
      else process.env.SSL_DATA_DIR = previous;
    }
  });
});

function writePng(path: string, width: number, height: number, rgb: (x: number, y: number) => [number, number, number]): void {
  const png = new pngjs.PNG({ width, height });
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const [r, g, b] = rgb(x, y);
      const o = 4 * (y * width + x);
      png.data[o] = r;
      png.data[o + 1] = g;
      png.data[o + 2] = b;
      png.data[o + 3] = 255;
    }
  writeFileSync(path, pngjs.PNG.sync.write(png));
}

function writeJpeg(path: string, width: number, height: number, value: [number, number, number]): void {
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set([...value, 255], 4 * p);
  writeFileSync(path, jpeg.encode({ width, height, data }, 95).data);
}

describe('loadImageFolder', () => {
  it('loads class sub-folders of PNG and JPEG, resizes and converts channels', async () => {
    const root = join(tmp, 'folder');
    mkdirSync(join(root, 'red'), { recursive: true });
    mkdirSync(join(root, 'blue'), { recursive: true });
    writePng(join(root, 'red', 'a.png'), 8, 6, () => [200, 0, 0]);
    writeJpeg(join(root, 'red', 'b.jpg'), 16, 16, [200, 0, 0]);
    writePng(join(root, 'blue', 'c.png'), 4, 4, (x) => (x < 2 ? [0, 0, 0] : [0, 0, 255]));
    writeFileSync(join(root, 'blue', 'notes.txt'), 'ignored');
    const rgb = await loadImageFolder(root, { size: [4, 4], channels: 3 });
    expect(rgb.classNames).toEqual(['blue', 'red']);
    expect(Array.from(rgb.labels!)).toEqual([0, 1, 1]);
    expect(rgb.shape).toEqual([4, 4, 3]);
    // blue image copied exactly (same size): left half black, right half blue
    expect(Array.from(rgb.images.subarray(0, 12))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 255]);
    // the JPEG is near-uniform red after lossy coding
    const jpegPixel = rgb.images.subarray(2 * 48, 2 * 48 + 3);
    expect(Math.abs(jpegPixel[0] - 200)).toBeLessThan(8);
    expect(jpegPixel[1]).toBeLessThan(8);
    const gray = await loadImageFolder(root, { size: [2, 2], channels: 1 });
    expect(gray.shape).toEqual([2, 2, 1]);
    // red 200 → luma 0.299*200 = 59.8
    expect(gray.images[4]).toBe(60);
  });

  it('loads a flat folder unlabelled', async () => {
    const root = join(tmp, 'flat');
    mkdirSync(root, { recursive: true });
    writePng(join(root, 'x.png'), 3, 3, (x, y) => [x * 100, y * 100, 0]);
    const ds = await loadImageFolder(root, { size: [3, 3], channels: 3 });
    expect(ds.labels).toBeUndefined();
    expect(ds.size).toBe(1);
    expect(Array.from(ds.images.subarray(3 * 5, 3 * 5 + 3))).toEqual([200, 100, 0]);
  });

  it('rejects empty folders, unreadable paths, corrupt images and bad channels', async () => {
    const empty = join(tmp, 'empty');
    mkdirSync(join(empty, 'cls'), { recursive: true });
    await expectDataError(loadImageFolder(empty, { size: [4, 4], channels: 1 }), join(empty, 'cls'));
    await expectDataError(loadImageFolder(join(tmp, 'missing'), { size: [4, 4], channels: 1 }), join(tmp, 'missing'));
    const corrupt = join(tmp, 'corrupt');
    mkdirSync(corrupt, { recursive: true });
    writePng(join(corrupt, 'good.png'), 4, 4, () => [1, 2, 3]);
    const bytes = readFileSync(join(corrupt, 'good.png'));
    writeFileSync(join(corrupt, 'truncated.png'), bytes.subarray(0, 40));
    await expectDataError(loadImageFolder(corrupt, { size: [4, 4], channels: 1 }), join(corrupt, 'truncated.png'));
    await expectDataError(loadImageFolder(join(tmp, 'flat'), { size: [4, 4], channels: 4 as 3 }), 'channels must be 1');
  });
});

describe('loadImageTextPairs', () => {
  it('reads JSONL and CSV (quoted commas) with paths relative to the file', async () => {
    const root = join(tmp, 'pairs');
    mkdirSync(join(root, 'img'), { recursive: true });
    writePng(join(root, 'img', 'a.png'), 2, 2, () => [255, 255, 255]);
    writePng(join(root, 'img', 'b.png'), 2, 2, () => [0, 0, 0]);
    writeFileSync(join(root, 'pairs.jsonl'), '{"image": "img/a.png", "caption": "a white square"}\n\n{"image": "img/b.png", "caption": "a black square"}\n');
    writeFileSync(join(root, 'pairs.csv'), 'image,caption\nimg/a.png,"white, bright ""square"""\r\nimg/b.png,dark\n');
    const jsonl = await loadImageTextPairs(join(root, 'pairs.jsonl'), { size: [2, 2], channels: 1 });
    expect(jsonl.captions).toEqual(['a white square', 'a black square']);
    expect(jsonl.images[0]).toBe(255);
    expect(jsonl.images[4]).toBe(0);
    const csv = await loadImageTextPairs(join(root, 'pairs.csv'), { size: [2, 2], channels: 3 });
    expect(csv.captions).toEqual(['white, bright "square"', 'dark']);
    expect(csv.size).toBe(2);
    writeFileSync(join(root, 'bad.jsonl'), '{"image": "img/a.png"}\n');
    await expectDataError(loadImageTextPairs(join(root, 'bad.jsonl'), { size: [2, 2], channels: 1 }), 'bad.jsonl:1');
    writeFileSync(join(root, 'missing.csv'), 'image,caption\nimg/zzz.png,x\n');
    await expectDataError(loadImageTextPairs(join(root, 'missing.csv'), { size: [2, 2], channels: 1 }), 'zzz.png');
  });
});
