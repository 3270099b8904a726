/**
 * Decode + orient + convert + resize of one encoded image to `size` × `channels` bytes, with sharp (libvips)
 * when it loads and the pure-JS jpeg-js / pngjs + resize.ts path otherwise. The same function runs on the main
 * thread (loadImageFile) and inside decode-pool.ts's worker threads, which receive its source text: so it
 * references only its parameters (the libraries, resize.ts's function among them) and globals.
 */
import { createRequire } from 'node:module';
import { resizeRgbaToBytes, type ResizeFilter } from './resize';

/** The part of sharp's API used here (sharp is an optional dependency: its types are not required). */
export interface SharpPipeline {
  removeAlpha(): SharpPipeline;
  toColourspace(space: string): SharpPipeline;
  resize(width: number, height: number, options: { fit: 'fill'; kernel: string }): SharpPipeline;
  raw(): SharpPipeline;
  toBuffer(options: { resolveWithObject: true }): Promise<{ data: Uint8Array; info: { width: number; height: number; channels: number } }>;
}
export type SharpFactory = (input: Uint8Array, options: { autoOrient: boolean; failOn: string; limitInputPixels: number }) => SharpPipeline;

export interface DecodeLibraries {
  readonly sharp?: SharpFactory;
  readonly jpeg: { decode(bytes: Uint8Array, options: object): { width: number; height: number; data: Uint8Array } };
  readonly png: { PNG: { sync: { read(bytes: Buffer): { width: number; height: number; data: Uint8Array } } } };
  /** resize.ts's resizeRgbaToBytes, passed in rather than imported so the function's source text runs in a worker. */
  readonly resize: typeof resizeRgbaToBytes;
}

export interface DecodeTarget {
  /** [height, width] */
  readonly size: readonly [number, number];
  readonly channels: 1 | 3;
  readonly filter: ResizeFilter;
}

/**
 * Decodes PNG or JPEG `bytes` and resizes them to `target`. Throws a plain Error whose message says what is
 * wrong with the file (callers add its name and wrap it in SslError('data')).
 *
 * With sharp: EXIF orientation applied, CMYK and 16-bit converted to sRGB, greyscale expanded, alpha dropped (as
 * the pure-JS path does), Lanczos-3 or triangle resize by libvips; `area` (no libvips equivalent) decodes with
 * sharp and resizes with resize.ts. Grayscale is ITU-R 601 luma computed here on both paths, so they agree.
 */
export async function decodeToTarget(bytes: Uint8Array, target: DecodeTarget, libraries: DecodeLibraries): Promise<Uint8Array> {
  const [outH, outW] = target.size;
  const out = new Uint8Array(outH * outW * target.channels);
  const isPng = bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new Error('not a PNG or JPEG file (unrecognised header)');
  if (libraries.sharp) {
    let pipeline = libraries.sharp(bytes, { autoOrient: true, failOn: 'error', limitInputPixels: 1 << 28 })
      .removeAlpha()
      .toColourspace('srgb');
    const resizeBySharp = target.filter !== 'area';
    if (resizeBySharp) pipeline = pipeline.resize(outW, outH, { fit: 'fill', kernel: target.filter === 'bilinear' ? 'linear' : 'lanczos3' });
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    const pixels = info.width * info.height;
    const rgba = new Uint8Array(pixels * 4);
    for (let p = 0; p < pixels; p++) {
      const source = p * info.channels;
      rgba[4 * p] = data[source];
      rgba[4 * p + 1] = data[source + (info.channels >= 3 ? 1 : 0)];
      rgba[4 * p + 2] = data[source + (info.channels >= 3 ? 2 : 0)];
      rgba[4 * p + 3] = 255;
    }
    return libraries.resize(rgba, info.width, info.height, target.channels, outH, outW, target.filter, out);
  }
  let decoded: { width: number; height: number; data: Uint8Array };
  if (isPng) {
    decoded = libraries.png.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } else {
    decoded = libraries.jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
    decoded = orientRgba(decoded, exifOrientation(bytes));
  }
  return libraries.resize(decoded.data, decoded.width, decoded.height, target.channels, outH, outW, target.filter, out);
}

/** The EXIF Orientation tag (1–8) of a JPEG's APP1 segment; 1 (as stored) when there is none. */
export function exifOrientation(bytes: Uint8Array): number {
  let offset = 2;
  while (offset + 4 <= bytes.length && bytes[offset] === 0xff) {
    const marker = bytes[offset + 1];
    const length = (bytes[offset + 2] << 8) | bytes[offset + 3];
    if (marker === 0xda || marker === 0xd9) break; // start of scan / end of image: no more metadata
    const start = offset + 4;
    const isExif = marker === 0xe1 && bytes[start] === 0x45 && bytes[start + 1] === 0x78 && bytes[start + 2] === 0x69 && bytes[start + 3] === 0x66;
    if (isExif) {
      const tiff = start + 6;
      const little = bytes[tiff] === 0x49;
      const read16 = (at: number) => (little ? bytes[at] | (bytes[at + 1] << 8) : (bytes[at] << 8) | bytes[at + 1]);
      const read32 = (at: number) => (little ? read16(at) + read16(at + 2) * 65536 : read16(at) * 65536 + read16(at + 2));
      const ifd = tiff + read32(tiff + 4);
      const entries = ifd + 2 <= bytes.length ? read16(ifd) : 0;
      for (let e = 0; e < entries; e++) {
        const entry = ifd + 2 + 12 * e;
        if (entry + 12 > bytes.length) break;
        if (read16(entry) === 0x0112) {
          const value = read16(entry + 8);
          return value >= 1 && value <= 8 ? value : 1;
        }
      }
      return 1;
    }
    offset += 2 + length;
  }
  return 1;
}

/** RGBA pixels turned as EXIF `orientation` says the image is displayed (2–8: flips, rotations, transposes). */
export function orientRgba(image: { width: number; height: number; data: Uint8Array }, orientation: number): { width: number; height: number; data: Uint8Array } {
  if (orientation <= 1 || orientation > 8) return image;
  const { width: w, height: h, data } = image;
  const swaps = orientation >= 5;
  const outW = swaps ? h : w;
  const outH = swaps ? w : h;
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      // The source pixel shown at (x, y).
      let sx = x;
      let sy = y;
      if (orientation === 2) sx = w - 1 - x;
      else if (orientation === 3) [sx, sy] = [w - 1 - x, h - 1 - y];
      else if (orientation === 4) sy = h - 1 - y;
      else if (orientation === 5) [sx, sy] = [y, x];
      else if (orientation === 6) [sx, sy] = [y, h - 1 - x];
      else if (orientation === 7) [sx, sy] = [w - 1 - y, h - 1 - x];
      else [sx, sy] = [w - 1 - y, x];
      const source = 4 * (sy * w + sx);
      const target = 4 * (y * outW + x);
      out[target] = data[source];
      out[target + 1] = data[source + 1];
      out[target + 2] = data[source + 2];
      out[target + 3] = data[source + 3];
    }
  }
  return { width: outW, height: outH, data: out };
}

/** Which decoder: sharp when it loads (default), or always the pure-JS one. */
export type DecoderChoice = 'auto' | 'js';

const requireHere = createRequire(import.meta.url);
let sharpLoad: { factory?: SharpFactory; error?: string } | undefined;

/**
 * sharp's factory, or undefined where its native binary does not load (the pure-JS path is used then).
 * SSL_DECODER=js forces the pure-JS path (and `decoder: 'js'` per call).
 */
export function loadSharp(choice: DecoderChoice = 'auto'): SharpFactory | undefined {
  if (choice === 'js' || process.env.SSL_DECODER === 'js') return undefined;
  if (!sharpLoad) {
    try {
      sharpLoad = { factory: requireHere('sharp') as SharpFactory };
    } catch (error) {
      sharpLoad = { error: (error as Error).message };
    }
  }
  return sharpLoad.factory;
}

/** Module paths the decode workers require (resolved here, so a worker finds them wherever core is installed). */
export function decoderModulePaths(): { jpeg: string; png: string; sharp?: string } {
  return {
    jpeg: requireHere.resolve('jpeg-js'),
    png: requireHere.resolve('pngjs'),
    sharp: loadSharp() ? requireHere.resolve('sharp') : undefined,
  };
}

/** The libraries of this thread, for decodeToTarget. */
export function decodeLibraries(choice: DecoderChoice = 'auto'): DecodeLibraries {
  return {
    sharp: loadSharp(choice),
    jpeg: requireHere('jpeg-js') as DecodeLibraries['jpeg'],
    png: requireHere('pngjs') as DecodeLibraries['png'],
    resize: resizeRgbaToBytes,
  };
}
