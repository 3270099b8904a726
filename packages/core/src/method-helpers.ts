import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError } from './errors';
import { stopGradient } from './ops';
import type { ImageDataset } from './data/dataset';

/**
 * Cross-entropy of logits [N, K] against hard labels [N]: the mean over rows of log Σ_k exp(z_k) − z_y
 * (with `weights` [N], a weighted mean Σ w_i ℓ_i / N, as confidence-weighted self-training needs).
 */
export function hardLabelCrossEntropy(logits: Tensor2D, labels: Tensor1D, weights?: Tensor1D): Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    const labelLogits = tf.sum(tf.mul(logits, tf.oneHot(tf.cast(labels, 'int32') as Tensor1D, classes)), 1);
    const perRow = tf.sub(tf.logSumExp(logits, 1), labelLogits);
    return tf.mean(weights ? tf.mul(perRow, weights) : perRow) as Scalar;
  });
}

/** Fraction of rows whose largest logit is the label's; carries no gradient. */
export function accuracy(logits: Tensor2D, labels: Tensor1D): Scalar {
  return tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(stopGradient(logits), 1), tf.cast(labels, 'int32')), 'float32')) as Scalar);
}

/**
 * How several views go through one network. The choice changes batch-norm statistics, so it is explicit:
 * 'concatenated' forwards all views as one batch (SimCLR's code: statistics over the 2N images; views must
 * share a size); 'per-view' forwards each view on its own (BYOL's and DINO's code; views may differ in size).
 */
export type ViewForwarding = 'concatenated' | 'per-view';

/** One output per view, in view order, from `forward` applied as `mode` says. */
export function forwardViews(forward: (images: Tensor4D) => Tensor2D, views: readonly Tensor4D[], mode: ViewForwarding): Tensor2D[] {
  if (views.length === 0) throw new SslError('shape-mismatch', 'forwardViews needs at least one view.');
  if (mode === 'per-view') return views.map((view) => forward(view));
  const size = views[0].shape.slice(1).join('×');
  const odd = views.find((view) => view.shape.slice(1).join('×') !== size);
  if (odd)
    throw new SslError(
      'shape-mismatch',
      `forwardViews 'concatenated' needs views of one size; got ${size} and ${odd.shape.slice(1).join('×')}: use 'per-view'.`,
    );
  const outputs = forward(views.length === 1 ? views[0] : (tf.concat(views as Tensor4D[], 0) as Tensor4D));
  let start = 0;
  return views.map((view) => {
    const rows = tf.slice(outputs, [start, 0], [view.shape[0], -1]) as Tensor2D;
    start += view.shape[0];
    return rows;
  });
}

/**
 * The held-out data a `heldOutTask` of a method that trains on unlabeled images receives (the runner passes
 * the test split), checked: a clear error, not a crash deep in a forward pass, when a caller passes other data.
 */
export function heldOutImages(heldOut: unknown, methodId: string): ImageDataset {
  const images = heldOut as Partial<ImageDataset> | undefined;
  const valid = images && images.images instanceof Uint8Array && Array.isArray(images.shape) && Number.isInteger(images.size);
  if (!valid)
    throw new SslError('data', `${methodId}'s held-out task reads an image dataset ({ images, shape, size }), got ${describe(heldOut)}.`);
  return images as ImageDataset;
}

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  return `an object with keys ${Object.keys(value).join(', ') || '(none)'}`;
}
