import { readFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SslError } from '../errors';
import type { ImageDataset } from './dataset';
import { IDX_UNSIGNED_BYTE, corruptGzip, decodeIdx, idxDataset, isGzip, requireImageIdx } from './idx-format';
import type { IdxArray, LoadIdxOptions } from './idx-format';

export type { IdxArray, LoadIdxOptions } from './idx-format';

/** Parses IDX bytes (gzipped or not); `fileName` is used in error messages. */
export function parseIdx(bytes: Uint8Array, fileName: string): IdxArray {
  let raw = bytes;
  if (isGzip(raw)) {
    try {
      raw = gunzipSync(raw);
    } catch (cause) {
      throw corruptGzip(fileName, cause);
    }
  }
  return decodeIdx(raw, fileName);
}

/** Encodes unsigned bytes as an IDX file, gzipped unless `gzip: false`. */
export function encodeIdx(dims: readonly number[], data: Uint8Array, options: { gzip?: boolean } = {}): Uint8Array {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== data.length) {
    throw new SslError('shape-mismatch', `encodeIdx: dims [${dims.join(', ')}] need ${expected} bytes, got ${data.length}.`);
  }
  const header = new Uint8Array(4 + 4 * dims.length);
  header[2] = IDX_UNSIGNED_BYTE;
  header[3] = dims.length;
  const view = new DataView(header.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const raw = new Uint8Array(header.length + data.length);
  raw.set(header, 0);
  raw.set(data, header.length);
  return options.gzip === false ? raw : new Uint8Array(gzipSync(raw, { level: 9 }));
}

/**
 * Loads an image IDX file ([N, H, W] or [N, H, W, C]) and an optional label IDX file ([N]) into an
 * ImageDataset. Both may be gzipped. Every structural problem is an SslError('data') naming the file.
 */
export async function loadIdx(imagesPath: string, labelsPath?: string, options: LoadIdxOptions = {}): Promise<ImageDataset> {
  const images = parseIdx(await readBytes(imagesPath), imagesPath);
  requireImageIdx(images, imagesPath);
  const labels = labelsPath === undefined ? undefined : parseIdx(await readBytes(labelsPath), labelsPath);
  return idxDataset(images, imagesPath, labels, labelsPath ?? '', options);
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (cause) {
    throw new SslError('data', `${path}: cannot read the file (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}); check the path.`, {
      cause,
      details: { file: path },
    });
  }
}
