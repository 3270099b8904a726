import { readFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SslError } from '../errors';
import { makeDataset, type ImageDataset } from './dataset';

/**
 * The IDX format of LeCun's MNIST files (also used by Fashion-MNIST): two zero bytes, a type byte
 * (0x08 = unsigned byte), the number of dimensions, that many big-endian uint32 sizes, then the data.
 */
export interface IdxArray {
  readonly dims: number[];
  readonly data: Uint8Array;
}

const IDX_UNSIGNED_BYTE = 0x08;
const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

/** Parses IDX bytes (gzipped or not); `fileName` is used in error messages. */
export function parseIdx(bytes: Uint8Array, fileName: string): IdxArray {
  let raw = bytes;
  if (raw.length >= 2 && raw[0] === GZIP_MAGIC_0 && raw[1] === GZIP_MAGIC_1) {
    try {
      raw = gunzipSync(raw);
    } catch (cause) {
      throw new SslError('data', `${fileName}: the gzip stream is corrupt or truncated (${(cause as Error).message}); download the file again.`, {
        cause,
        details: { file: fileName },
      });
    }
  }
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) {
    const head = Array.from(raw.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new SslError('data', `${fileName}: not an IDX file (magic bytes ${head || 'missing'}, expected 00 00 08 0N); check the path points at an MNIST-format file.`, {
      details: { file: fileName },
    });
  }
  if (raw[2] !== IDX_UNSIGNED_BYTE) {
    throw new SslError('data', `${fileName}: IDX type 0x${raw[2].toString(16)} is not supported; only unsigned-byte (0x08) files are read.`, {
      details: { file: fileName, type: raw[2] },
    });
  }
  const rank = raw[3];
  const headerLength = 4 + 4 * rank;
  if (rank < 1 || raw.length < headerLength) {
    throw new SslError('data', `${fileName}: IDX header declares ${rank} dimensions but the file is too short to hold them; the file is truncated.`, {
      details: { file: fileName },
    });
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < rank; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = raw.length - headerLength;
  if (actual !== expected) {
    throw new SslError(
      'data',
      `${fileName}: IDX header declares dims [${dims.join(', ')}] = ${expected} bytes of data but the file holds ${actual}; ` +
        (actual < expected ? 'the file is truncated, download it again.' : 'the file has trailing data and is probably not an IDX file.'),
      { details: { file: fileName, dims, expected, actual } },
    );
  }
  return { dims, data: raw.subarray(headerLength) };
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

export interface LoadIdxOptions {
  name?: string;
  classNames?: string[];
}

/**
 * Loads an image IDX file ([N, H, W] or [N, H, W, C]) and an optional label IDX file ([N]) into an
 * ImageDataset. Both may be gzipped. Every structural problem is an SslError('data') naming the file.
 */
export async function loadIdx(imagesPath: string, labelsPath?: string, options: LoadIdxOptions = {}): Promise<ImageDataset> {
  const images = parseIdx(await readBytes(imagesPath), imagesPath);
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new SslError('data', `${imagesPath}: an image IDX file has 3 ([N, H, W]) or 4 ([N, H, W, C]) dimensions, this one has [${images.dims.join(', ')}]; did you swap the images and labels files?`, {
      details: { file: imagesPath, dims: images.dims },
    });
  }
  const [count, height, width] = images.dims;
  const channels = images.dims.length === 4 ? images.dims[3] : 1;
  let labels: Int32Array | undefined;
  if (labelsPath !== undefined) {
    const labelArray = parseIdx(await readBytes(labelsPath), labelsPath);
    if (labelArray.dims.length !== 1) {
      throw new SslError('data', `${labelsPath}: a label IDX file has 1 dimension, this one has [${labelArray.dims.join(', ')}]; did you swap the images and labels files?`, {
        details: { file: labelsPath, dims: labelArray.dims },
      });
    }
    if (labelArray.dims[0] !== count) {
      throw new SslError('data', `${labelsPath}: holds ${labelArray.dims[0]} labels but ${imagesPath} holds ${count} images; the two files must come from the same split.`, {
        details: { imagesFile: imagesPath, labelsFile: labelsPath, images: count, labels: labelArray.dims[0] },
      });
    }
    labels = Int32Array.from(labelArray.data);
  }
  return makeDataset({
    images: images.data,
    shape: [height, width, channels],
    labels,
    classNames: options.classNames,
    numClasses: options.classNames?.length,
    name: options.name ?? imagesPath,
    size: count,
  });
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
