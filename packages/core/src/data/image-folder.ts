import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { SslError } from '../errors';
import { makeDataset, type ImageDataset } from './dataset';
import { decodeLibraries, decodeToTarget, type DecoderChoice } from './image-decode';
import { RESIZE_FILTERS, resizeRgbaToBytes, type ResizeFilter } from './resize';

/** Pixels of one decoded image, RGBA bytes as the decoders return them. */
export interface DecodedImage {
  width: number;
  height: number;
  /** width*height*4 bytes, RGBA. */
  rgba: Uint8Array;
}

export interface ImageLoadOptions {
  /** [height, width] every image is resized to (stretched, antialiased: see `filter`). */
  size: [number, number];
  /** 1: grayscale (ITU-R 601 luma, as PIL's "L"), 3: RGB. Alpha is dropped. */
  channels: 1 | 3;
  /** Resize filter, widened by the downscale factor (antialiased); default 'lanczos3'. See resize.ts. */
  filter?: ResizeFilter;
  /**
   * 'auto' (default): sharp (libvips: EXIF orientation, CMYK, 16-bit) when its native binary loads, else the
   * pure-JS jpeg-js / pngjs decoders (EXIF orientation applied, CMYK converted without a colour profile); 'js':
   * always the pure-JS path.
   */
  decoder?: DecoderChoice;
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
 * Converts RGBA pixels to `channels` and resizes them to [height, width] with an antialiased filter
 * (`options.filter`, default Lanczos-3: see resize.ts). Writes bytes into `out`.
 */
export function resizeToBytes(image: DecodedImage, options: ImageLoadOptions, out: Uint8Array = new Uint8Array(options.size[0] * options.size[1] * options.channels)): Uint8Array {
  return resizeRgbaToBytes(image.rgba, image.width, image.height, options.channels, options.size[0], options.size[1], options.filter ?? 'lanczos3', out);
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
  const libraries = decodeLibraries(options.decoder);
  if (!libraries.sharp) return resizeToBytes(decodeImage(bytes, path), options, out);
  try {
    const bytesOut = await decodeToTarget(bytes, { size: options.size, channels: options.channels, filter: options.filter ?? 'lanczos3' }, libraries);
    if (!out) return bytesOut;
    out.set(bytesOut);
    return out;
  } catch (cause) {
    throw new SslError('data', `${path}: cannot decode the image (${(cause as Error).message}); the file is corrupt, truncated or not a PNG/JPEG.`, {
      cause,
      details: { file: path },
    });
  }
}

export function validateImageLoadOptions(options: ImageLoadOptions, where: string): void {
  const { size, channels } = options;
  if (!Array.isArray(size) || size.length !== 2 || size.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new SslError('invalid-config', `${where}: size must be [height, width] of positive integers, got ${JSON.stringify(size)}.`);
  }
  if (channels !== 1 && channels !== 3) {
    throw new SslError('data', `${where}: channels must be 1 (grayscale) or 3 (RGB), got ${JSON.stringify(channels)}.`);
  }
  if (options.filter !== undefined && !RESIZE_FILTERS.includes(options.filter)) {
    throw new SslError('invalid-config', `${where}: filter must be one of ${RESIZE_FILTERS.join(', ')}, got ${JSON.stringify(options.filter)}.`);
  }
  if (options.decoder !== undefined && options.decoder !== 'auto' && options.decoder !== 'js') {
    throw new SslError('invalid-config', `${where}: decoder must be 'auto' or 'js', got ${JSON.stringify(options.decoder)}.`);
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
