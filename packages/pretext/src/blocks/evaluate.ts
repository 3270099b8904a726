import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { Random, heldOutImages, invalidConfig } from '@ssl/core';
import type { HeldOutFigure, ImageDataset } from '@ssl/core';

/** What a pretext task yields for a batch: the head's logits and the labels the task derived. */
export interface PretextPrediction {
  readonly logits: Tensor2D;
  readonly labels: Tensor1D;
}

export interface PretextEvaluationOptions {
  readonly batchSize?: number;
  /** Score only the first `limit` images. */
  readonly limit?: number;
  /** Seed of the task's randomness (patch positions, permutations, masks), so a score is reproducible. */
  readonly seed?: number;
}

/**
 * Held-out accuracy of a pretext head: runs `predict` (in inference mode) on batches of `dataset` scaled to
 * [0, 1] and returns the share of rows whose arg-max logit is the derived label.
 */
export async function pretextAccuracy(
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  predict: (images: Tensor4D, rng: Random) => PretextPrediction,
  options: PretextEvaluationOptions = {},
): Promise<number> {
  const batchSize = options.batchSize ?? 256;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) invalidConfig('batchSize', batchSize, 'a positive integer');
  const rng = new Random(options.seed ?? 0);
  const count = Math.min(options.limit ?? dataset.size, dataset.size);
  const [height, width, channels] = dataset.shape;
  const pixels = height * width * channels;
  let correct = 0;
  let rows = 0;
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    const bytes = dataset.images.subarray(start * pixels, (start + n) * pixels);
    const [hits, total] = tf.tidy(() => {
      const images = tf.div(tf.tensor4d(Float32Array.from(bytes), [n, height, width, channels]), 255) as Tensor4D;
      const { logits, labels } = predict(images, rng);
      return [tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.cast(labels, 'int32')), 'float32')), tf.scalar(labels.shape[0])];
    });
    correct += (await hits.data())[0];
    rows += (await total.data())[0];
    tf.dispose([hits, total]);
  }
  return rows === 0 ? 0 : correct / rows;
}

/**
 * A pretext head's accuracy on the held-out images as a runtime's `heldOutTask`, beside chance: `score` is the
 * method's own evaluate function (seeded, so the figure is reproducible).
 */
export function pretextHeldOutTask(
  methodId: string,
  name: string,
  chance: number,
  score: (dataset: ImageDataset, seed: number) => Promise<number>,
): (heldOut: unknown, options: { seed: number }) => Promise<readonly HeldOutFigure[]> {
  return async (heldOut, { seed }) => {
    const value = await score(heldOutImages(heldOut, methodId), seed);
    return [{ name, kind: 'accuracy', value, reference: { name: 'chance', value: chance } }];
  };
}
