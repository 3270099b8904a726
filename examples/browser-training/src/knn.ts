import * as tf from '@tensorflow/tfjs-core';
import { l2Normalize } from '@ssl/core';
import type { Encoder, ImageDataset } from '@ssl/core';

/** Neighbours that vote; 20 as in the kNN monitor of InstDisc / the MoCo repository, for a bank of ~1000 images. */
const NEIGHBOURS = 20;
const CHUNK = 250;

/** Images `start` to `end` of `dataset` as a [N, H, W, C] float tensor, bytes / 255 (what training feeds the encoder). */
export function pixelsOf(dataset: ImageDataset, start: number, end: number): tf.Tensor4D {
  const [height, width, channels] = dataset.shape;
  const pixels = height * width * channels;
  const scaled = Float32Array.from(dataset.images.subarray(start * pixels, end * pixels), (v) => v / 255);
  return tf.tensor4d(scaled, [end - start, height, width, channels]);
}

/** L2-normalized features of every image (bytes / 255, inference mode), computed in chunks. */
export function normalizedFeatures(encoder: Encoder, dataset: ImageDataset): tf.Tensor2D {
  const parts: tf.Tensor2D[] = [];
  for (let start = 0; start < dataset.size; start += CHUNK) {
    const end = Math.min(dataset.size, start + CHUNK);
    parts.push(tf.tidy(() => l2Normalize(encoder.features(pixelsOf(dataset, start, end), { training: false }))));
  }
  const all = tf.concat(parts) as tf.Tensor2D;
  parts.forEach((p) => p.dispose());
  return all;
}

/**
 * Top-1 accuracy of a cosine kNN classifier on L2-normalized features: each query's NEIGHBOURS most similar
 * bank rows vote for their labels (one vote each; ties go to the lower class).
 */
export async function knnAccuracyOfFeatures(
  bankFeatures: tf.Tensor2D,
  bankLabels: Int32Array,
  queryFeatures: tf.Tensor2D,
  queryLabels: Int32Array,
): Promise<number> {
  const indices = tf.tidy(() => tf.topk(tf.matMul(queryFeatures, bankFeatures, false, true), NEIGHBOURS).indices);
  const neighbours = await indices.data();
  indices.dispose();
  const classes = Math.max(...bankLabels) + 1;
  let correct = 0;
  for (let q = 0; q < queryLabels.length; q++) {
    const votes = new Array<number>(classes).fill(0);
    for (let n = 0; n < NEIGHBOURS; n++) votes[bankLabels[neighbours[q * NEIGHBOURS + n]]] += 1;
    if (votes.indexOf(Math.max(...votes)) === queryLabels[q]) correct += 1;
  }
  return correct / queryLabels.length;
}

/**
 * Top-1 accuracy of a cosine kNN classifier: the bank images' features vote for the query images' classes.
 * The online monitor of self-supervised training: it needs no training of its own, so it can run every epoch.
 */
export async function knnAccuracy(encoder: Encoder, bank: ImageDataset, queries: ImageDataset): Promise<number> {
  if (!bank.labels || !queries.labels) throw new Error('kNN needs labeled images');
  const bankFeatures = normalizedFeatures(encoder, bank);
  const queryFeatures = normalizedFeatures(encoder, queries);
  const top1 = await knnAccuracyOfFeatures(bankFeatures, bank.labels, queryFeatures, queries.labels);
  tf.dispose([bankFeatures, queryFeatures]);
  return top1;
}
