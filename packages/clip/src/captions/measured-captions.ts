import { Random, SslError, imageTextDataset } from '@ssl/core';
import type { ImageDataset, ImageTextDataset } from '@ssl/core';
import { FASHION_MNIST_VOCABULARY } from './fashion-mnist';

/**
 * Captions that describe the image, not only its class: attributes measured from each image's pixels (how light
 * the item is, how much of the frame it fills, how wide it is, how much detail it has), put into words by the
 * quantiles of its class, so that two images of one class get different captions when they look different. With
 * class-only captions, many images share a caption and image↔text recall cannot tell a right caption from a
 * copy of it; these make each (class, attributes) combination a caption of its own.
 */

/** What is measured of each image; `measureImages` computes them over the item's pixels. */
export const MEASURES = ['brightness', 'size', 'width', 'detail'] as const;
export type Measure = (typeof MEASURES)[number];

/** Per measure, [N] values, one per image. */
export type ImageMeasures = Readonly<Record<Measure, Float32Array>>;

/** The words of each measure's bins, from the lowest values to the highest. */
export const ATTRIBUTE_WORDS: Readonly<Record<Measure, readonly string[]>> = {
  brightness: ['black', 'dark', 'pale', 'white'],
  size: ['tiny', 'small', 'big', 'huge'],
  width: ['slim', 'regular', 'wide'],
  detail: ['plain', 'patterned', 'busy'],
};

/** A pixel belongs to the item when brighter than this (Fashion-MNIST's backgrounds are 0). */
const ITEM_THRESHOLD = 25;

/**
 * Measures of each (grayscale) image over its item, the pixels above a small threshold: `brightness` = mean
 * intensity of the item in [0, 1]; `size` = share of the frame the item covers; `width` = width / height of its
 * bounding box; `detail` = mean absolute difference between horizontally and vertically neighbouring item pixels,
 * relative to the item's brightness (texture and print, not overall lightness).
 */
export function measureImages(dataset: ImageDataset): ImageMeasures {
  const [height, width, channels] = dataset.shape;
  if (channels !== 1) throw new SslError('data', `measureImages(${dataset.name}): expected grayscale images, got ${channels} channels.`);
  const measures = Object.fromEntries(MEASURES.map((m) => [m, new Float32Array(dataset.size)])) as Record<Measure, Float32Array>;
  const pixels = height * width;
  for (let n = 0; n < dataset.size; n++) {
    const image = dataset.images.subarray(n * pixels, (n + 1) * pixels);
    let count = 0;
    let sum = 0;
    let differences = 0;
    let neighbourPairs = 0;
    let [top, bottom, left, right] = [height, -1, width, -1];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const value = image[y * width + x];
        if (value <= ITEM_THRESHOLD) continue;
        count++;
        sum += value;
        [top, bottom, left, right] = [Math.min(top, y), Math.max(bottom, y), Math.min(left, x), Math.max(right, x)];
        if (x + 1 < width && image[y * width + x + 1] > ITEM_THRESHOLD) {
          differences += Math.abs(value - image[y * width + x + 1]);
          neighbourPairs++;
        }
        if (y + 1 < height && image[(y + 1) * width + x] > ITEM_THRESHOLD) {
          differences += Math.abs(value - image[(y + 1) * width + x]);
          neighbourPairs++;
        }
      }
    }
    const brightness = count > 0 ? sum / count / 255 : 0;
    measures.brightness[n] = brightness;
    measures.size[n] = count / pixels;
    measures.width[n] = count > 0 ? (right - left + 1) / (bottom - top + 1) : 1;
    measures.detail[n] = neighbourPairs > 0 && brightness > 0 ? differences / neighbourPairs / 255 / brightness : 0;
  }
  return measures;
}

/** Per class and measure, the bin edges (quantiles of the reference images of that class), ascending. */
export type AttributeThresholds = ReadonlyArray<Readonly<Record<Measure, readonly number[]>>>;

/**
 * Bin edges of every measure per class, from reference images (the training set): the quantiles that split each
 * class's values into `ATTRIBUTE_WORDS[measure].length` equal parts, so every word is used about equally within a
 * class ("huge" is huge for a sandal, not for a coat). Held-out images are described with the training set's edges.
 */
export function attributeThresholds(reference: ImageDataset): AttributeThresholds {
  const labels = reference.labels;
  if (!labels) throw new SslError('data', `attributeThresholds(${reference.name}): the images need labels (edges are per class).`);
  const measures = measureImages(reference);
  const classes = reference.numClasses ?? Math.max(...labels) + 1;
  return Array.from({ length: classes }, (_, label) => {
    const members = Array.from(labels.keys()).filter((i) => labels[i] === label);
    if (members.length === 0) throw new SslError('data', `attributeThresholds(${reference.name}): no image of class ${label}.`);
    return Object.fromEntries(
      MEASURES.map((measure) => {
        const sorted = members.map((i) => measures[measure][i]).sort((a, b) => a - b);
        const bins = ATTRIBUTE_WORDS[measure].length;
        return [measure, Array.from({ length: bins - 1 }, (_, b) => sorted[Math.floor(((b + 1) * sorted.length) / bins)])];
      }),
    ) as Record<Measure, number[]>;
  });
}

/** Captions and what makes each one what it is: its class and attribute words (`key`), to find duplicates by. */
export interface MeasuredCaptions {
  readonly captions: string[];
  /** "label|brightness|size|width|detail" of each caption: equal keys describe the images alike. */
  readonly keys: string[];
}

const MEASURED_TEMPLATES: readonly string[] = [
  'a {brightness} {size} {name}, {width} and {detail}',
  'a photo of a {width} {name}: {brightness}, {size}, {detail}',
  'this {name} is {brightness}, {size}, {width} and {detail}',
];

/**
 * A caption per image naming its class (a random name of the class, as fashionMnistCaptions) and its four
 * measured attributes in words, binned with `thresholds`, in one of three templates drawn with `rng`.
 * Example: "a pale huge coat, wide and plain".
 */
export function fashionMnistMeasuredCaptions(dataset: ImageDataset, thresholds: AttributeThresholds, rng: Random): MeasuredCaptions {
  const labels = dataset.labels;
  if (!labels) throw new SslError('data', `fashionMnistMeasuredCaptions(${dataset.name}): the images need labels.`);
  const measures = measureImages(dataset);
  const captions: string[] = [];
  const keys: string[] = [];
  labels.forEach((label, i) => {
    const vocabulary = FASHION_MNIST_VOCABULARY[label];
    const edges = thresholds[label];
    if (vocabulary === undefined || edges === undefined)
      throw new SslError('data', `fashionMnistMeasuredCaptions: label ${label} at index ${i} is not a Fashion-MNIST class (0..9).`);
    const words = Object.fromEntries(
      MEASURES.map((measure) => [measure, ATTRIBUTE_WORDS[measure][edges[measure].filter((edge) => measures[measure][i] >= edge).length]]),
    ) as Record<Measure, string>;
    let caption = MEASURED_TEMPLATES[rng.int(MEASURED_TEMPLATES.length)].replace(
      '{name}',
      vocabulary.names[rng.int(vocabulary.names.length)],
    );
    for (const measure of MEASURES) caption = caption.replace(`{${measure}}`, words[measure]);
    captions.push(caption);
    keys.push([label, ...MEASURES.map((measure) => words[measure])].join('|'));
  });
  return { captions, keys };
}

/** Fashion-MNIST images paired with measured captions (labels kept); `thresholds` default to the dataset's own. */
export function fashionMnistMeasuredPairs(
  dataset: ImageDataset,
  seed: number,
  thresholds = attributeThresholds(dataset),
): ImageTextDataset {
  const { captions } = fashionMnistMeasuredCaptions(dataset, thresholds, new Random(seed));
  return imageTextDataset(dataset.images, dataset.shape, captions, dataset.labels, `${dataset.name}+measured-captions`);
}

/** Indices of the first image of each distinct key: a set in which no two captions describe the same thing. */
export function uniqueCaptionIndices(keys: readonly string[]): number[] {
  const seen = new Set<string>();
  return keys.flatMap((key, i) => (seen.has(key) ? [] : (seen.add(key), [i])));
}
