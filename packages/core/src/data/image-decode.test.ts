import { describe, expect, it } from 'vitest';
import { decodeLibraries, decodeToTarget, exifOrientation, loadSharp, orientRgba, type DecodeTarget } from './image-decode';

const sharp = loadSharp();
const RGB16: DecodeTarget = { size: [16, 16], channels: 3, filter: 'lanczos3' };

/** sharp's own encoder makes the test images: CMYK, greyscale, alpha and EXIF orientation are what it handles. */
type SharpForTests = (input: Buffer, options: { raw: { width: number; height: number; channels: number } }) => {
  toColourspace(space: string): ReturnType<SharpForTests>;
  withMetadata(options: { orientation: number }): ReturnType<SharpForTests>;
  jpeg(options: { quality: number }): ReturnType<SharpForTests>;
  png(): ReturnType<SharpForTests>;
  toBuffer(): Promise<Buffer>;
};

function raw(width: number, height: number, channels: number, value: (x: number, y: number, c: number) => number): Buffer {
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = value(x, y, c);
  return data;
}

function meanAbsDifference(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

describe.skipIf(!sharp)('decodeToTarget with sharp (libvips) and the pure-JS fallback', () => {
  const make = sharp as unknown as SharpForTests;
  const withSharp = decodeLibraries('auto');
  const pureJs = decodeLibraries('js');

  it('agrees with the pure-JS path on a smooth photo-like JPEG downscaled 96×64 → 16×16 (within 3 grey levels)', async () => {
    const input = raw(96, 64, 3, (x, y, c) => (c === 0 ? 2 * x + 30 : c === 1 ? 3 * y + 20 : 128 + Math.round(60 * Math.sin(x / 9))));
    const file = new Uint8Array(await make(input, { raw: { width: 96, height: 64, channels: 3 } }).jpeg({ quality: 95 }).toBuffer());
    const a = await decodeToTarget(file, RGB16, withSharp);
    const b = await decodeToTarget(file, RGB16, pureJs);
    expect(meanAbsDifference(a, b)).toBeLessThan(3);
  });

  it('converts CMYK and greyscale JPEGs and drops alpha of PNGs', async () => {
    const red = raw(32, 32, 3, (_x, _y, c) => [200, 40, 40][c]);
    const cmyk = new Uint8Array(await make(red, { raw: { width: 32, height: 32, channels: 3 } }).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer());
    const pixel = (await decodeToTarget(cmyk, RGB16, withSharp)).subarray(0, 3);
    expect(Math.abs(pixel[0] - 200)).toBeLessThan(30);
    expect(pixel[1]).toBeLessThan(80);
    expect(pixel[2]).toBeLessThan(80);
    const greyInput = raw(32, 32, 1, (x) => 4 * x);
    const grey = new Uint8Array(await make(greyInput, { raw: { width: 32, height: 32, channels: 1 } }).jpeg({ quality: 95 }).toBuffer());
    const greyOut = await decodeToTarget(grey, RGB16, withSharp);
    expect(greyOut[0]).toBe(greyOut[1]);
    expect(greyOut[1]).toBe(greyOut[2]);
    expect(meanAbsDifference(greyOut, await decodeToTarget(grey, RGB16, pureJs))).toBeLessThan(3);
    const rgba = raw(8, 8, 4, (_x, _y, c) => [10, 200, 30, 0][c]);
    const png = new Uint8Array(await make(rgba, { raw: { width: 8, height: 8, channels: 4 } }).png().toBuffer());
    for (const libraries of [withSharp, pureJs]) {
      expect(Array.from((await decodeToTarget(png, { size: [8, 8], channels: 3, filter: 'area' }, libraries)).subarray(0, 3))).toEqual([10, 200, 30]);
    }
  });

  it('applies EXIF orientation on both paths', async () => {
    // 40 wide × 20 high: left half black, right half white; orientation 6 displays it rotated 90° clockwise,
    // so the displayed image is 20 wide × 40 high with black on top.
    const input = raw(40, 20, 3, (x) => (x < 20 ? 0 : 255));
    const file = new Uint8Array(
      await make(input, { raw: { width: 40, height: 20, channels: 3 } })
        .withMetadata({ orientation: 6 })
        .jpeg({ quality: 95 })
        .toBuffer(),
    );
    expect(exifOrientation(file)).toBe(6);
    for (const libraries of [withSharp, pureJs]) {
      const out = await decodeToTarget(file, { size: [8, 8], channels: 1, filter: 'area' }, libraries);
      expect(out[0]).toBeLessThan(30);
      expect(out[63]).toBeGreaterThan(225);
    }
  });

  it('orientRgba: all eight orientations against the displayed image sharp produces', async () => {
    // 3 wide × 2 high, every pixel distinct.
    const input = raw(3, 2, 3, (x, y, c) => (c === 0 ? 40 * (y * 3 + x) + 20 : 0));
    for (let orientation = 1; orientation <= 8; orientation++) {
      const file = new Uint8Array(
        await make(input, { raw: { width: 3, height: 2, channels: 3 } })
          .withMetadata({ orientation })
          .png()
          .toBuffer(),
      );
      const rgba = raw(3, 2, 4, (x, y, c) => (c === 0 ? 40 * (y * 3 + x) + 20 : c === 3 ? 255 : 0));
      const ours = orientRgba({ width: 3, height: 2, data: new Uint8Array(rgba) }, orientation);
      const theirs = await decodeToTarget(file, { size: [ours.height, ours.width], channels: 3, filter: 'area' }, withSharp);
      const oursRed = Array.from({ length: ours.width * ours.height }, (_, p) => ours.data[4 * p]);
      const theirsRed = Array.from({ length: ours.width * ours.height }, (_, p) => theirs[3 * p]);
      expect(oursRed, `orientation ${orientation}`).toEqual(theirsRed);
    }
  });

  it('rejects truncated and non-image files on both paths', async () => {
    const input = raw(64, 64, 3, (x, y) => (x * y) % 256);
    const file = new Uint8Array(await make(input, { raw: { width: 64, height: 64, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
    const truncated = file.subarray(0, Math.floor(file.length / 3));
    for (const libraries of [withSharp, pureJs]) {
      await expect(decodeToTarget(truncated, RGB16, libraries)).rejects.toThrow();
      await expect(decodeToTarget(new TextEncoder().encode('hello, not an image'), RGB16, libraries)).rejects.toThrow(/not a PNG or JPEG/);
    }
  });
});

describe.runIf(!sharp)('decodeToTarget without sharp', () => {
  it('sharp did not load here, so only the pure-JS path is tested (in loaders.test.ts and resize.test.ts)', () => {
    console.warn('image-decode.test: sharp is not installed or its native binary does not load; sharp path untested');
    expect(loadSharp()).toBeUndefined();
  });
});
