import { Random, SslError, imageTextDataset } from '@ssl/core';
import type { ImageDataset, ImageTextDataset } from '@ssl/core';

/**
 * Synthetic captions for Fashion-MNIST, so CLIP can be demonstrated without a captioned dataset: each
 * image gets a sentence built from a random template, a random name of its class (always including the
 * official class name's words somewhere in the pool) and random attribute words (sleeves, footwear, body
 * part, shape), so the text encoder learns words and their sharing across classes (shirt / t-shirt, boot /
 * sneaker / sandal are all footwear) rather than one token per class.
 */
interface ClassVocabulary {
  /** Ways to name the item; the first is the official Fashion-MNIST class name in words. */
  readonly names: readonly string[];
  /** Attribute phrases, two are drawn per caption. */
  readonly attributes: readonly string[];
}

/** Index = Fashion-MNIST label. */
export const FASHION_MNIST_VOCABULARY: readonly ClassVocabulary[] = [
  { names: ['t-shirt', 'top', 't-shirt top', 'tee'], attributes: ['short sleeves', 'upper body', 'casual', 'round neck', 'light cotton'] },
  {
    names: ['trouser', 'trousers', 'pants', 'pair of trousers'],
    attributes: ['two long legs', 'lower body', 'full length', 'straight cut', 'waistband'],
  },
  { names: ['pullover', 'sweater', 'jumper'], attributes: ['long sleeves', 'upper body', 'knitted', 'warm', 'no buttons'] },
  { names: ['dress', 'gown', 'frock'], attributes: ['one piece', 'long body', 'worn by women', 'narrow waist', 'hem below the knee'] },
  { names: ['coat', 'jacket', 'overcoat'], attributes: ['long sleeves', 'upper body', 'outerwear', 'zipper or buttons', 'collar'] },
  { names: ['sandal', 'sandals', 'open shoe'], attributes: ['footwear', 'open straps', 'summer', 'flat sole', 'low'] },
  { names: ['shirt', 'blouse', 'button shirt'], attributes: ['long sleeves', 'upper body', 'buttons', 'collar', 'formal'] },
  {
    names: ['sneaker', 'sneakers', 'trainer shoe', 'running shoe'],
    attributes: ['footwear', 'low shoe', 'laces', 'sporty', 'rubber sole'],
  },
  { names: ['bag', 'handbag', 'purse', 'tote'], attributes: ['accessory', 'handles', 'carried', 'no sleeves', 'boxy shape'] },
  { names: ['ankle boot', 'boot', 'ankle boots'], attributes: ['footwear', 'high shaft', 'heel', 'winter', 'covers the ankle'] },
];

const TEMPLATES: readonly string[] = [
  'a photo of a {name}',
  'a {name} with {a1}',
  'a grayscale picture of a {name}, {a1}, {a2}',
  '{a1} and {a2}: a {name}',
  'this is a {name}',
  'a small image of a {name} ({a1})',
  'product shot of a {name}, {a2}',
  'a {a1} item, a {name}',
];

/**
 * One caption per label, drawn with `rng`. Labels must be Fashion-MNIST classes 0..9.
 * Example: label 7 → "a grayscale picture of a running shoe, laces, footwear".
 */
export function fashionMnistCaptions(labels: ArrayLike<number>, rng: Random): string[] {
  const captions: string[] = [];
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    const vocabulary = FASHION_MNIST_VOCABULARY[label];
    if (!Number.isInteger(label) || vocabulary === undefined) {
      throw new SslError('data', `fashionMnistCaptions: label ${label} at index ${i} is not a Fashion-MNIST class (0..9).`);
    }
    const template = TEMPLATES[rng.int(TEMPLATES.length)];
    const name = vocabulary.names[rng.int(vocabulary.names.length)];
    const first = rng.int(vocabulary.attributes.length);
    const second = (first + 1 + rng.int(vocabulary.attributes.length - 1)) % vocabulary.attributes.length;
    captions.push(
      template.replace('{name}', name).replace('{a1}', vocabulary.attributes[first]).replace('{a2}', vocabulary.attributes[second]),
    );
  }
  return captions;
}

/** Fashion-MNIST images paired with synthetic captions (labels kept for monitoring and zero-shot scoring). */
export function fashionMnistPairs(dataset: ImageDataset, seed: number): ImageTextDataset {
  if (!dataset.labels) throw new SslError('data', `fashionMnistPairs(${dataset.name}): the dataset has no labels to caption.`);
  const captions = fashionMnistCaptions(dataset.labels, new Random(seed));
  return imageTextDataset(dataset.images, dataset.shape, captions, dataset.labels, `${dataset.name}+captions`);
}

/** Zero-shot prompt templates (CLIP-style ensembling); `{}` is replaced by the class name. */
export const FASHION_MNIST_PROMPTS: readonly string[] = [
  'a photo of a {}.',
  'a grayscale photo of the {}.',
  'a picture of a {}.',
  'this is a {}.',
  'a product image of a {}.',
];
