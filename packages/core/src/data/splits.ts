import { SslError } from '../errors';
import { Random } from '../random';
import { subset, type ImageDataset } from './dataset';

/**
 * Splits a dataset into train and test parts, stratified by class when labels exist (so both parts
 * keep the class proportions), at random otherwise. Deterministic in `seed`.
 */
export function trainTestSplit<D extends ImageDataset>(dataset: D, options: { testFraction: number; seed: number }): { train: D; test: D } {
  const { testFraction, seed } = options;
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new SslError('invalid-config', `trainTestSplit(${dataset.name}): testFraction must lie strictly between 0 and 1, got ${testFraction}.`);
  }
  const random = new Random(seed);
  const test: number[] = [];
  const train: number[] = [];
  for (const indices of groups(dataset)) {
    const order = random.permutation(indices.length);
    const testCount = Math.round(indices.length * testFraction);
    for (let k = 0; k < indices.length; k++) (k < testCount ? test : train).push(indices[order[k]]);
  }
  if (test.length === 0 || train.length === 0) {
    throw new SslError('data', `trainTestSplit(${dataset.name}): ${dataset.size} images with testFraction ${testFraction} leave an empty part; use more data or another fraction.`);
  }
  test.sort((a, b) => a - b);
  train.sort((a, b) => a - b);
  return { train: subset(dataset, train, `${dataset.name}[train]`), test: subset(dataset, test, `${dataset.name}[test]`) };
}

/**
 * Splits a labelled dataset into a small labelled part and the rest as unlabelled (labels dropped),
 * the standard semi-supervised protocol (e.g. FixMatch's "40 labels" = 4 per class on CIFAR-10).
 * `perClass` takes exactly that many images of every class; `fraction` takes that fraction of each
 * class (rounded, at least one). Deterministic in `seed`; the labelled images keep the dataset order.
 */
export function labeledSplit(
  dataset: ImageDataset,
  options: { perClass?: number; fraction?: number; seed: number },
): { labeled: ImageDataset; unlabeled: ImageDataset } {
  const { perClass, fraction, seed } = options;
  if (!dataset.labels || dataset.numClasses === undefined) {
    throw new SslError('data', `labeledSplit(${dataset.name}): the dataset has no labels; a labelled/unlabelled split needs them.`);
  }
  if ((perClass === undefined) === (fraction === undefined)) {
    throw new SslError('invalid-config', `labeledSplit(${dataset.name}): give exactly one of perClass or fraction.`);
  }
  if (perClass !== undefined && !(Number.isInteger(perClass) && perClass > 0)) {
    throw new SslError('invalid-config', `labeledSplit(${dataset.name}): perClass must be a positive integer, got ${perClass}.`);
  }
  if (fraction !== undefined && !(fraction > 0 && fraction < 1)) {
    throw new SslError('invalid-config', `labeledSplit(${dataset.name}): fraction must lie strictly between 0 and 1, got ${fraction}.`);
  }
  const random = new Random(seed);
  const labeled: number[] = [];
  const unlabeled: number[] = [];
  const byClass = groups(dataset);
  for (let c = 0; c < byClass.length; c++) {
    const indices = byClass[c];
    const take = perClass ?? Math.max(1, Math.round(indices.length * fraction!));
    if (indices.length < take) {
      const className = dataset.classNames?.[c] ?? String(c);
      throw new SslError('data', `labeledSplit(${dataset.name}): class ${className} has ${indices.length} images, fewer than perClass = ${take}; lower perClass.`, {
        details: { field: 'perClass', class: c, available: indices.length, requested: take },
      });
    }
    const order = random.permutation(indices.length);
    for (let k = 0; k < indices.length; k++) (k < take ? labeled : unlabeled).push(indices[order[k]]);
  }
  labeled.sort((a, b) => a - b);
  unlabeled.sort((a, b) => a - b);
  const labeledPart = subset(dataset, labeled, `${dataset.name}[labeled ${labeled.length}]`);
  const unlabeledWithLabels = subset(dataset, unlabeled, `${dataset.name}[unlabeled ${unlabeled.length}]`);
  const { labels: _dropped, numClasses: _n, ...unlabeledPart } = unlabeledWithLabels;
  return { labeled: labeledPart, unlabeled: unlabeledPart };
}

/** Indices per class (one group of everything when unlabelled). */
function groups(dataset: ImageDataset): number[][] {
  if (!dataset.labels) return [Array.from({ length: dataset.size }, (_, i) => i)];
  const byClass: number[][] = Array.from({ length: dataset.numClasses ?? 0 }, () => []);
  dataset.labels.forEach((label, index) => {
    while (byClass.length <= label) byClass.push([]);
    byClass[label].push(index);
  });
  return byClass;
}
