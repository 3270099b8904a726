import { SslError } from '@ssl/core';
import type { FeatureSet } from './types';

/** Number of rows of a feature set, after checking that features, dim and labels agree. */
export function featureCount(set: FeatureSet, name = 'features'): number {
  if (!Number.isInteger(set.dim) || set.dim <= 0) {
    throw new SslError('shape-mismatch', `${name}.dim must be a positive integer, got ${set.dim}.`);
  }
  if (set.features.length % set.dim !== 0) {
    throw new SslError(
      'shape-mismatch',
      `${name}.features has ${set.features.length} values, not a multiple of dim ${set.dim}: pass the row-major [count, dim] array returned by extractFeatures.`,
    );
  }
  const count = set.features.length / set.dim;
  if (set.labels.length !== count) {
    throw new SslError('shape-mismatch', `${name} has ${count} feature rows but ${set.labels.length} labels: pass one label per row.`);
  }
  return count;
}

/** Checks that labels are present (not the -1 of an unlabeled dataset) and returns 1 + the largest. */
export function countClasses(labels: Int32Array, name = 'labels'): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label < 0) {
      throw new SslError('data', `${name}[${i}] = ${label}: this evaluation needs labeled data (unlabeled rows carry -1).`);
    }
    if (label > max) max = label;
  }
  return max + 1;
}

/** The rows `indices` of a feature set, copied. */
export function selectRows(set: FeatureSet, indices: ArrayLike<number>): FeatureSet {
  const features = new Float32Array(indices.length * set.dim);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const row = indices[i];
    features.set(set.features.subarray(row * set.dim, (row + 1) * set.dim), i * set.dim);
    labels[i] = set.labels[row];
  }
  return { features, dim: set.dim, labels };
}

/** Checks two feature sets can be compared (same dim). */
export function assertSameDim(train: FeatureSet, test: FeatureSet): void {
  if (train.dim !== test.dim) {
    throw new SslError(
      'shape-mismatch',
      `Train features have dim ${train.dim} but test features have dim ${test.dim}: extract both with the same encoder.`,
    );
  }
}

/** Fraction of rows where predicted equals the label. */
export function accuracyOf(predicted: Int32Array, labels: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return labels.length === 0 ? 0 : correct / labels.length;
}
