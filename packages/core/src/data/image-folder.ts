import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { SslError } from '../errors';
import { makeDataset, type ImageDataset } from './dataset';

/** Pixels of one decoded image, RGBA bytes as the decoders return them. */
export interface DecodedImage {
  width: number;
  height: number;
  /** width*height*4 bytes, RGBA. */
  rgba: Uint8Array;
}

export interface ImageLoadOptions {
  /** [height, width] every image is resized to (bilinear). */
  size: [number, number];
  /** 1: grayscale (ITU-R 601 luma, as PIL's "L"), 3: RGB. Alpha is dropped. */
  channels: 1 | 3;
}

export interface ImageFolderOptions extends ImageLoadOptions {
  /**
   * true: one sub-folder per class, labels = sorted sub-folder names. false: images directly in `dir`,
   * no labels. Default: labelled when `dir` has sub-folders.
   */
  labeled?: boolean;
  name?: string;
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** Decodes PNG or JPEG bytes (recognised by their magic numbers) with the pure-JS pngjs / jpeg-js. */
export function decodeImage(bytes: Uint8Array, fileName: string): DecodedImage {
  const isPng = bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) {
    throw new SslError('data', `${fileName}: not a PNG or JPEG file (unrecognised header); convert it or remove it from the folder.`, { details: { file: fileName } });
  }
  try {
    if (isPng) {
      const png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    }
    const decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
    return { width: decoded.width, height: decoded.height, rgba: decoded.data };
  } catch (cause) {
    throw new SslError('data', `${fileName}: cannot decode the ${isPng ? 'PNG' : 'JPEG'} image (${(cause as Error).message}); the file is corrupt or truncated.`, {
      cause,
      details: { file: fileName },
    });
  }
}

/**
 * Converts RGBA pixels to `channels` and resizes them to [height, width] with bilinear interpolation
 * (half-pixel centres, as tf.image.resizeBilinear with halfPixelCenters). Writes bytes into `out`.
 */
export function resizeToBytes(image: DecodedImage, options: ImageLoadOptions, out: Uint8Array = new Uint8Array(options.size[0] * options.size[1] * options.channels)): Uint8Array {
  const { width, height, rgba } = image;
  const [outH, outW] = options.size;
  const channels = options.channels;
  // Convert first (cheap at source resolution for small images, and gray needs one plane only).
  const plane = new Float32Array(width * height * channels);
  for (let p = 0; p < width * height; p++) {
    const r = rgba[4 * p];
    const g = rgba[4 * p + 1];
    const b = rgba[4 * p + 2];
    if (channels === 1) plane[p] = 0.299 * r + 0.587 * g + 0.114 * b;
    else {
      plane[3 * p] = r;
      plane[3 * p + 1] = g;
      plane[3 * p + 2] = b;
    }
  }
  const scaleY = height / outH;
  const scaleX = width / outW;
  for (let y = 0; y < outH; y++) {
    const sy = Math.min(height - 1, Math.max(0, (y + 0.5) * scaleY - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(height - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < outW; x++) {
      const sx = Math.min(width - 1, Math.max(0, (x + 0.5) * scaleX - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(width - 1, x0 + 1);
      const fx = sx - x0;
      for (let c = 0; c < channels; c++) {
        const v00 = plane[(y0 * width + x0) * channels + c];
        const v01 = plane[(y0 * width + x1) * channels + c];
        const v10 = plane[(y1 * width + x0) * channels + c];
        const v11 = plane[(y1 * width + x1) * channels + c];
        const top = v00 + (v01 - v00) * fx;
        const bottom = v10 + (v11 - v10) * fx;
        out[(y * outW + x) * channels + c] = Math.round(top + (bottom - top) * fy);
      }
    }
  }
  return out;
}

/** Reads, decodes, converts and resizes one image file to `size` × `channels` bytes. */
export async function loadImageFile(path: string, options: ImageLoadOptions, out?: Uint8Array): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (cause) {
    throw new SslError('data', `${path}: cannot read the image (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}); check the path and permissions.`, {
      cause,
      details: { file: path },
    });
  }
  return resizeToBytes(decodeImage(bytes, path), options, out);
}

export function validateImageLoadOptions(options: ImageLoadOptions, where: string): void {
  const { size, channels } = options;
  if (!Array.isArray(size) || size.length !== 2 || size.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new SslError('invalid-config', `${where}: size must be [height, width] of positive integers, got ${JSON.stringify(size)}.`);
  }
  if (channels !== 1 && channels !== 3) {
    throw new SslError('data', `${where}: channels must be 1 (grayscale) or 3 (RGB), got ${JSON.stringify(channels)}.`);
  }
}

/**
 * Loads a folder of PNG/JPEG images: `dir/<class>/<image>` (labels = index of the class folder in
 * sorted order) or `dir/<image>` (unlabelled). Files are visited in sorted order so the dataset is
 * the same on every machine. Non-image files are skipped; an empty class or folder is an error.
 */
export async function loadImageFolder(dir: string, options: ImageFolderOptions): Promise<ImageDataset> {
  validateImageLoadOptions(options, `loadImageFolder(${dir})`);
  const entries = await listDir(dir);
  const subfolders: string[] = [];
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry);
    const info = await stat(path);
    if (info.isDirectory()) subfolders.push(entry);
    else if (IMAGE_EXTENSIONS.has(extname(entry).toLowerCase())) files.push(path);
  }
  const labeled = options.labeled ?? subfolders.length > 0;
  const paths: string[] = [];
  let labels: Int32Array | undefined;
  let classNames: string[] | undefined;
  if (labeled) {
    if (subfolders.length === 0) {
      throw new SslError('data', `${dir}: labeled: true needs one sub-folder per class, found none; put each class's images in dir/<class>/ or pass labeled: false.`, {
        details: { dir },
      });
    }
    classNames = subfolders;
    const labelList: number[] = [];
    for (let c = 0; c < subfolders.length; c++) {
      const classDir = join(dir, subfolders[c]);
      const classFiles = (await listDir(classDir)).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()));
      if (classFiles.length === 0) {
        throw new SslError('data', `${classDir}: class folder "${subfolders[c]}" holds no .png/.jpg/.jpeg images; add images or remove the folder.`, {
          details: { dir: classDir },
        });
      }
      for (const f of classFiles) {
        paths.push(join(classDir, f));
        labelList.push(c);
      }
    }
    labels = Int32Array.from(labelList);
  } else {
    paths.push(...files);
  }
  if (paths.length === 0) {
    throw new SslError('data', `${dir}: holds no .png/.jpg/.jpeg images; add images or check the path.`, { details: { dir } });
  }
  const [h, w] = options.size;
  const imageSize = h * w * options.channels;
  const images = new Uint8Array(paths.length * imageSize);
  for (let i = 0; i < paths.length; i++) {
    await loadImageFile(paths[i], options, images.subarray(i * imageSize, (i + 1) * imageSize));
  }
  return makeDataset({ images, shape: [h, w, options.channels], labels, classNames, name: options.name ?? dir, size: paths.length });
}

/** Sorted entry names of a folder (hidden entries skipped); unreadable folders are SslError('data'). */
export async function listDir(dir: string): Promise<string[]> {
  try {
    const names = await readdir(dir);
    return names.filter((n) => !n.startsWith('.')).sort();
  } catch (cause) {
    throw new SslError('data', `${dir}: cannot list the folder (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}); check the path.`, {
      cause,
      details: { dir },
    });
  }
}
