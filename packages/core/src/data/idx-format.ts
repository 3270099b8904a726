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

export const IDX_UNSIGNED_BYTE = 0x08;
const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

/** Whether bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC_0 && bytes[1] === GZIP_MAGIC_1;
}

/** The error for a gzip stream that does not inflate, the same wherever it is inflated. */
export function corruptGzip(fileName: string, cause: unknown): SslError {
  return new SslError('data', `${fileName}: the gzip stream is corrupt or truncated (${(cause as Error).message}); download the file again.`, {
    cause,
    details: { file: fileName },
  });
}

/** Parses inflated IDX bytes; `fileName` is used in error messages. */
export function decodeIdx(raw: Uint8Array, fileName: string): IdxArray {
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


export interface LoadIdxOptions {
  name?: string;
  classNames?: string[];
}

/** Throws unless an IDX array has the rank of images: [N, H, W] or [N, H, W, C]. */
export function requireImageIdx(images: IdxArray, imagesPath: string): void {
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new SslError('data', `${imagesPath}: an image IDX file has 3 ([N, H, W]) or 4 ([N, H, W, C]) dimensions, this one has [${images.dims.join(', ')}]; did you swap the images and labels files?`, {
      details: { file: imagesPath, dims: images.dims },
    });
  }
}

/** An image IDX array ([N, H, W] or [N, H, W, C]) and an optional label IDX array ([N]) as an ImageDataset. */
export function idxDataset(
  images: IdxArray,
  imagesPath: string,
  labelArray: IdxArray | undefined,
  labelsPath: string,
  options: LoadIdxOptions = {},
): ImageDataset {
  requireImageIdx(images, imagesPath);
  const [count, height, width] = images.dims;
  const channels = images.dims.length === 4 ? images.dims[3] : 1;
  let labels: Int32Array | undefined;
  if (labelArray !== undefined) {
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

