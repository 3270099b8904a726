import * as tf from '@tensorflow/tfjs-core';
import { SslError, inferenceEncoder } from '@ssl/core';
import type { Encoder } from '@ssl/core';
import type { FeatureEncoder, FeatureSet, LabeledImageDataset } from './types';

/**
 * Features of one (encoder, dataset) pair kept for the rest of a run, keyed by object identity.
 * Only valid while the encoder is frozen: an evaluation that trains the encoder between calls (an online
 * monitor) must not share a cache across epochs.
 */
export class FeatureCache {
  private readonly byEncoder = new WeakMap<object, WeakMap<object, FeatureSet>>();

  get(encoder: FeatureEncoder, dataset: LabeledImageDataset): FeatureSet | undefined {
    return this.byEncoder.get(encoder)?.get(dataset);
  }

  set(encoder: FeatureEncoder, dataset: LabeledImageDataset, features: FeatureSet): void {
    let byDataset = this.byEncoder.get(encoder);
    if (!byDataset) {
      byDataset = new WeakMap();
      this.byEncoder.set(encoder, byDataset);
    }
    byDataset.set(dataset, features);
  }

  delete(encoder: FeatureEncoder, dataset: LabeledImageDataset): void {
    this.byEncoder.get(encoder)?.delete(dataset);
  }
}

export interface ExtractFeaturesOptions {
  /** Images per forward pass (default: about 512k pixels per batch, from 64 to 1024 images: 668 for 28×28). */
  batchSize?: number;
  /** Reuse features already extracted for this (encoder, dataset) pair in this run. */
  cache?: FeatureCache;
  /** Extract only the first `limit` images (default: all). */
  limit?: number;
}

/**
 * Runs a frozen encoder over a dataset once: inference mode (batch norm uses its moving statistics,
 * dropout off), pixels scaled to [0, 1], no augmentation. Unlabeled datasets give labels of -1.
 * A core encoder runs through `inferenceEncoder` (batch norm folded into the convolutions, equal to
 * `features(x, { training: false })` within 1e-5 of the output's scale); any other `FeatureEncoder`
 * through its own `features`. The encoder is only read, so its weights are unchanged (tested bit for bit).
 */
export async function extractFeatures(
  encoder: FeatureEncoder,
  dataset: LabeledImageDataset,
  options: ExtractFeaturesOptions = {},
): Promise<FeatureSet> {
  const pixels = dataset.shape.length === 3 ? dataset.shape[0] * dataset.shape[1] : 784;
  // Large batches amortize the per-call work of every kernel; 2^19 pixels keeps a ResNet's widest
  // activations (64 channels at full size) near 128 MB at 32×32.
  const batchSize = options.batchSize ?? Math.max(64, Math.min(1024, Math.floor(2 ** 19 / pixels)));
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new SslError('invalid-config', `extractFeatures batchSize must be a positive integer, got ${batchSize}.`);
  }
  const cached = options.cache?.get(encoder, dataset);
  if (cached && (options.limit === undefined || cached.labels.length === Math.min(options.limit, dataset.size))) {
    return cached;
  }
  if (dataset.shape.length !== 3) {
    throw new SslError('shape-mismatch', `Dataset shape must be [height, width, channels], got [${dataset.shape.join(', ')}].`);
  }
  const [height, width, channels] = dataset.shape;
  const pixelsPerImage = height * width * channels;
  if (dataset.images.length < dataset.size * pixelsPerImage) {
    throw new SslError(
      'data',
      `Dataset ${dataset.name ?? ''} says size ${dataset.size} of [${dataset.shape.join(', ')}] but holds only ${dataset.images.length} pixel values.`,
    );
  }
  const count = Math.min(options.limit ?? dataset.size, dataset.size);
  const labels = new Int32Array(count).fill(-1);
  if (dataset.labels) labels.set(dataset.labels.subarray(0, count));

  let features: Float32Array | undefined;
  let dim = 0;
  const batchPixels = new Float32Array(batchSize * pixelsPerImage);
  const inference = isCoreEncoder(encoder) ? inferenceEncoder(encoder) : undefined;
  try {
    for (let start = 0; start < count; start += batchSize) {
      const rows = Math.min(batchSize, count - start);
      const source = dataset.images.subarray(start * pixelsPerImage, (start + rows) * pixelsPerImage);
      const scaled = batchPixels.subarray(0, rows * pixelsPerImage);
      for (let i = 0; i < source.length; i++) scaled[i] = source[i] / 255;
      const batchFeatures = tf.tidy(() => {
        const inputs = tf.tensor4d(scaled, [rows, height, width, channels]);
        return inference ? inference.features(inputs) : encoder.features(inputs, { training: false });
      });
      try {
        if (batchFeatures.rank !== 2 || batchFeatures.shape[0] !== rows) {
          throw new SslError(
            'shape-mismatch',
            `Encoder features for a batch of ${rows} images have shape [${batchFeatures.shape.join(', ')}]; expected [${rows}, featureDim].`,
          );
        }
        if (!features) {
          dim = batchFeatures.shape[1];
          features = new Float32Array(count * dim);
        } else if (batchFeatures.shape[1] !== dim) {
          throw new SslError('shape-mismatch', `Encoder feature dim changed from ${dim} to ${batchFeatures.shape[1]} between batches.`);
        }
        const values = (await batchFeatures.data()) as Float32Array;
        features.set(values, start * dim);
      } finally {
        batchFeatures.dispose();
      }
    }
  } finally {
    inference?.dispose();
  }
  const result: FeatureSet = { features: features ?? new Float32Array(0), dim, labels };
  if (options.cache) options.cache.set(encoder, dataset, result);
  return result;
}

/** An @ssl/core encoder (it has the tfjs-layers model behind its features), which `inferenceEncoder` can fold. */
function isCoreEncoder(encoder: FeatureEncoder): encoder is FeatureEncoder & Encoder {
  const candidate = encoder as Partial<Encoder>;
  return typeof candidate.kind === 'string' && candidate.model !== undefined && typeof candidate.featureDim === 'number';
}

/** A "flatten" encoder: the raw pixels as features. The baseline every learned representation should beat. */
export function flattenEncoder(): FeatureEncoder {
  return {
    features: (inputs) => tf.tidy(() => tf.reshape(inputs, [inputs.shape[0], -1]) as tf.Tensor2D),
  };
}
