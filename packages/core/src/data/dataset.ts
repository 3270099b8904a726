import * as tf from '@tensorflow/tfjs-core';
import { SslError, formatShape } from '../errors';

/**
 * A set of same-sized images held on the host as bytes (NHWC, 0..255), so that a 60 000-image
 * dataset costs 47 MB instead of 188 MB as float32, and batches are gathered on the host before
 * they are uploaded as float tensors.
 */
export interface ImageDataset {
  /** N*H*W*C bytes, 0..255, NHWC order. */
  readonly images: Uint8Array;
  /** [height, width, channels] of one image. */
  readonly shape: [number, number, number];
  /** One class index per image (0..numClasses-1), absent for unlabelled data. */
  readonly labels?: Int32Array;
  readonly numClasses?: number;
  readonly classNames?: string[];
  /** Number of images. */
  readonly size: number;
  /** A human-readable name used in errors and logs (e.g. "fashion-mnist/train"). */
  readonly name: string;
}

/** Images with one caption each, for CLIP-style image-text training. */
export interface ImageTextDataset extends ImageDataset {
  readonly captions: string[];
}

export interface ImageDatasetInit {
  /**
   * Uint8Array (0..255) or Float32Array (0..1, converted to bytes) in NHWC order together with `shape`,
   * or a rank-4 tensor (float 0..1 or int 0..255 by dtype: float32 is read as 0..1, int32 as 0..255).
   */
  images: Uint8Array | Float32Array | tf.Tensor4D;
  /** [height, width, channels]; required for typed arrays, taken from the tensor otherwise. */
  shape?: [number, number, number];
  labels?: Int32Array | number[];
  /** Defaults to max(label)+1, or classNames.length when given. */
  numClasses?: number;
  classNames?: string[];
  name?: string;
}

/** Builds an ImageDataset from memory, validating that the shapes and labels agree. */
export function imageDataset(init: ImageDatasetInit): ImageDataset {
  const name = init.name ?? 'in-memory';
  let images: Uint8Array;
  let shape: [number, number, number];
  if (init.images instanceof tf.Tensor) {
    const tensor = init.images;
    if (tensor.rank !== 4) {
      throw new SslError('shape-mismatch', `imageDataset(${name}): expected a rank-4 NHWC tensor, got shape ${formatShape(tensor.shape)}.`);
    }
    const [, h, w, c] = tensor.shape;
    if (init.shape && (init.shape[0] !== h || init.shape[1] !== w || init.shape[2] !== c)) {
      throw new SslError('shape-mismatch', `imageDataset(${name}): shape ${formatShape(init.shape)} disagrees with the tensor's ${formatShape(tensor.shape)}.`);
    }
    shape = [h, w, c];
    const values = tensor.dataSync();
    images = tensor.dtype === 'float32' ? floatsToBytes(values as Float32Array, name) : intsToBytes(values, name);
  } else {
    if (!init.shape) {
      throw new SslError('shape-mismatch', `imageDataset(${name}): pass shape: [height, width, channels] with a typed array of images.`);
    }
    shape = [...init.shape] as [number, number, number];
    images = init.images instanceof Float32Array ? floatsToBytes(init.images, name) : init.images;
  }
  validateShape(shape, name);
  const imageSize = shape[0] * shape[1] * shape[2];
  if (images.length % imageSize !== 0) {
    throw new SslError(
      'shape-mismatch',
      `imageDataset(${name}): ${images.length} values are not a whole number of ${formatShape(shape)} images (${imageSize} values each).`,
      { details: { length: images.length, shape } },
    );
  }
  const size = images.length / imageSize;
  const labels = init.labels === undefined ? undefined : Int32Array.from(init.labels);
  return makeDataset({ images, shape, labels, numClasses: init.numClasses, classNames: init.classNames, name, size });
}

/** Builds an ImageTextDataset from memory: one caption per image. */
export function imageTextDataset(
  images: Uint8Array | Float32Array | tf.Tensor4D,
  shape: [number, number, number],
  captions: string[],
  labels?: Int32Array | number[],
  name = 'image-text',
): ImageTextDataset {
  const base = imageDataset({ images, shape, labels, name });
  if (captions.length !== base.size) {
    throw new SslError('data', `imageTextDataset(${name}): ${base.size} images but ${captions.length} captions; give exactly one caption per image.`, {
      details: { images: base.size, captions: captions.length },
    });
  }
  return { ...base, captions: [...captions] };
}

/** Validates and freezes the pieces of a dataset (shared by the loaders). */
export function makeDataset(parts: {
  images: Uint8Array;
  shape: [number, number, number];
  labels?: Int32Array;
  numClasses?: number;
  classNames?: string[];
  name: string;
  size: number;
}): ImageDataset {
  const { images, shape, labels, name, size, classNames } = parts;
  validateShape(shape, name);
  if (images.length !== size * shape[0] * shape[1] * shape[2]) {
    throw new SslError('shape-mismatch', `Dataset ${name}: ${images.length} bytes do not hold ${size} images of ${formatShape(shape)}.`);
  }
  let numClasses = parts.numClasses;
  if (labels) {
    if (labels.length !== size) {
      throw new SslError('data', `Dataset ${name}: ${size} images but ${labels.length} labels; give exactly one label per image.`, {
        details: { images: size, labels: labels.length },
      });
    }
    let max = -1;
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i];
      if (label < 0) throw new SslError('data', `Dataset ${name}: label ${label} at index ${i} is negative; labels are class indices 0..numClasses-1.`);
      if (label > max) max = label;
    }
    numClasses ??= classNames ? classNames.length : max + 1;
    if (max >= numClasses) {
      throw new SslError('data', `Dataset ${name}: label ${max} is out of range for ${numClasses} classes.`, { details: { numClasses, maxLabel: max } });
    }
  }
  if (classNames && numClasses !== undefined && classNames.length !== numClasses) {
    throw new SslError('data', `Dataset ${name}: ${classNames.length} class names for ${numClasses} classes.`);
  }
  const dataset: ImageDataset = {
    images,
    shape,
    size,
    name,
    ...(labels ? { labels } : {}),
    ...(numClasses !== undefined ? { numClasses } : {}),
    ...(classNames ? { classNames: [...classNames] } : {}),
  };
  return dataset;
}

/** The images at `indices` (in that order) as a new dataset; the bytes are copied. */
export function subset<D extends ImageDataset>(dataset: D, indices: ArrayLike<number>, name?: string): D {
  const [h, w, c] = dataset.shape;
  const imageSize = h * w * c;
  const images = new Uint8Array(indices.length * imageSize);
  const labels = dataset.labels ? new Int32Array(indices.length) : undefined;
  for (let k = 0; k < indices.length; k++) {
    const index = indices[k];
    if (!Number.isInteger(index) || index < 0 || index >= dataset.size) {
      throw new SslError('data', `subset(${dataset.name}): index ${index} at position ${k} is outside 0..${dataset.size - 1}.`);
    }
    images.set(dataset.images.subarray(index * imageSize, (index + 1) * imageSize), k * imageSize);
    if (labels) labels[k] = dataset.labels![index];
  }
  const base = makeDataset({
    images,
    shape: [h, w, c],
    labels,
    numClasses: dataset.numClasses,
    classNames: dataset.classNames,
    name: name ?? `${dataset.name}[subset ${indices.length}]`,
    size: indices.length,
  });
  if (isImageTextDataset(dataset)) {
    const captions = Array.from(indices, (index) => dataset.captions[index]);
    return { ...base, captions } as unknown as D;
  }
  return base as D;
}

export function isImageTextDataset(dataset: ImageDataset): dataset is ImageTextDataset {
  return Array.isArray((dataset as Partial<ImageTextDataset>).captions);
}

function validateShape(shape: readonly number[], name: string): void {
  if (shape.length !== 3 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new SslError('shape-mismatch', `Dataset ${name}: image shape must be [height, width, channels] of positive integers, got ${formatShape(shape)}.`);
  }
  if (shape[2] !== 1 && shape[2] !== 3) {
    throw new SslError('data', `Dataset ${name}: ${shape[2]} channels are not supported; use 1 (grayscale) or 3 (RGB).`, { details: { shape } });
  }
}

function floatsToBytes(values: Float32Array, name: string): Uint8Array {
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= -1e-6 && v <= 1 + 1e-6)) {
      throw new SslError('data', `imageDataset(${name}): float images must lie in [0, 1], found ${v} at index ${i}; divide 0..255 data by 255 or pass a Uint8Array.`);
    }
    bytes[i] = Math.round(Math.min(1, Math.max(0, v)) * 255);
  }
  return bytes;
}

function intsToBytes(values: ArrayLike<number>, name: string): Uint8Array {
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= 0 && v <= 255)) throw new SslError('data', `imageDataset(${name}): integer images must lie in 0..255, found ${v} at index ${i}.`);
    bytes[i] = v;
  }
  return bytes;
}
