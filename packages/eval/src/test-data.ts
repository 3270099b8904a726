// Test-only helpers (not exported from the package): the Debian Fashion-MNIST copy and small synthetic sets.
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Random } from '@ssl/core';
import type { FeatureSet, LabeledImageDataset } from './types';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export function fashionMnistAvailable(dir = FASHION_MNIST_DIR): boolean {
  return ['train', 't10k'].every(
    (split) => existsSync(`${dir}/${split}-images-idx3-ubyte.gz`) && existsSync(`${dir}/${split}-labels-idx1-ubyte.gz`),
  );
}

/** Reads the gzipped IDX files directly (big-endian header, then bytes). */
export function readFashionMnist(split: 'train' | 'test', dir = FASHION_MNIST_DIR): LabeledImageDataset {
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = gunzipSync(readFileSync(`${dir}/${prefix}-images-idx3-ubyte.gz`));
  const labels = gunzipSync(readFileSync(`${dir}/${prefix}-labels-idx1-ubyte.gz`));
  const view = new DataView(images.buffer, images.byteOffset, images.byteLength);
  const size = view.getUint32(4);
  const height = view.getUint32(8);
  const width = view.getUint32(12);
  return {
    images: new Uint8Array(images.buffer, images.byteOffset + 16, size * height * width),
    shape: [height, width, 1],
    labels: Int32Array.from(labels.subarray(8, 8 + size)),
    numClasses: 10,
    classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    size,
    name: `fashion-mnist/${split}`,
  };
}

/** Gaussian blobs: `numClasses` well-separated means in `dim` dimensions plus unit noise. */
export function gaussianBlobs(options: { count: number; dim: number; numClasses: number; separation: number; seed: number }): FeatureSet {
  const random = new Random(options.seed);
  const means = Array.from({ length: options.numClasses }, () =>
    Float32Array.from({ length: options.dim }, () => random.normal() * options.separation),
  );
  const features = new Float32Array(options.count * options.dim);
  const labels = new Int32Array(options.count);
  for (let i = 0; i < options.count; i++) {
    const label = i % options.numClasses;
    labels[i] = label;
    for (let d = 0; d < options.dim; d++) features[i * options.dim + d] = means[label][d] + random.normal();
  }
  return { features, dim: options.dim, labels };
}

/**
 * 8×8 grayscale images in two classes: class 0 has the bright left half, class 1 the bright right half, plus
 * uniform noise in [0, noise). A deterministic linear-congruential noise keeps the bytes stable across runs.
 */
export function halvesDataset(
  size: number,
  seed: number,
  levels: { bright?: number; dark?: number; noise?: number } = {},
): LabeledImageDataset {
  const { bright = 180, dark = 20, noise: noiseRange = 60 } = levels;
  const images = new Uint8Array(size * 8 * 8);
  const labels = new Int32Array(size);
  let state = seed;
  const noise = () => (state = (state * 1103515245 + 12345) >>> 0) % noiseRange;
  for (let i = 0; i < size; i++) {
    labels[i] = i % 2;
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) images[i * 64 + y * 8 + x] = (x < 4 === (labels[i] === 0) ? bright : dark) + noise();
  }
  return { images, shape: [8, 8, 1], labels, numClasses: 2, size, name: 'halves' };
}
