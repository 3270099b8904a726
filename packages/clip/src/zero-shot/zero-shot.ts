import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, invalidConfig, l2Normalize } from '@ssl/core';
import type { MethodRuntime } from '@ssl/core';
import { clipModelOf } from '../clip/clip';
import type { ClipModel } from '../clip/clip';

/**
 * Prompt ensembling (CLIP sec. 3.1.4): the class embedding is the mean of the L2-normalized embeddings of
 * every prompt of the class, renormalized.
 *
 * @param promptEmbeddings [numClasses · numTemplates, D], class-major: row c·T + t is template t of class c.
 * @returns [numClasses, D], unit rows.
 */
export function ensembleClassEmbeddings(promptEmbeddings: Tensor2D, numClasses: number): Tensor2D {
  if (!(Number.isInteger(numClasses) && numClasses > 0) || promptEmbeddings.shape[0] % numClasses !== 0) {
    throw new SslError(
      'shape-mismatch',
      `ensembleClassEmbeddings: ${promptEmbeddings.shape[0]} prompt embeddings are not a multiple of ${numClasses} classes.`,
    );
  }
  const templates = promptEmbeddings.shape[0] / numClasses;
  return tf.tidy(() => {
    const normalized = l2Normalize(promptEmbeddings);
    const perClass = tf.mean(tf.reshape(normalized, [numClasses, templates, promptEmbeddings.shape[1]]), 1) as Tensor2D;
    return l2Normalize(perClass);
  });
}

export interface ZeroShotClassifier {
  /** [numClasses, D] unit class embeddings (the zero-shot weights). */
  readonly classEmbeddings: Tensor2D;
  readonly classNames: readonly string[];
  /** Logits [N, numClasses] = logitScale · cos(image, class). */
  logits(images: Tensor4D): Tensor2D;
  /** Top-1 class [N] (int32), computed in chunks of `batchSize` images (default 256). */
  predict(images: Tensor4D, batchSize?: number): Tensor1D;
  dispose(): void;
}

/**
 * Builds a zero-shot classifier from a trained CLIP model (or a clip:clip run's runtime): each class is
 * described by every template with `{}` replaced by the class name, and the prompts are ensembled.
 */
export function zeroShotClassifier(
  source: ClipModel | MethodRuntime,
  classNames: readonly string[],
  templates: readonly string[] = ['a photo of a {}.'],
): ZeroShotClassifier {
  const model = 'embedTexts' in source ? source : clipModelOf(source);
  if (classNames.length === 0) invalidConfig('classNames', classNames, 'at least one class name');
  if (templates.length === 0) invalidConfig('templates', templates, "at least one template such as 'a photo of a {}.'");
  const missing = templates.find((t) => !t.includes('{}'));
  if (missing !== undefined) invalidConfig('templates', missing, "templates containing '{}' where the class name goes");
  const prompts = classNames.flatMap((name) => templates.map((template) => template.replaceAll('{}', name)));
  const classEmbeddings = tf.tidy(() => ensembleClassEmbeddings(model.embedTexts(prompts), classNames.length));
  const logits = (images: Tensor4D): Tensor2D =>
    tf.tidy(() => tf.mul(model.logitScale(), tf.matMul(model.embedImages(images), classEmbeddings, false, true)) as Tensor2D);
  return {
    classEmbeddings,
    classNames: [...classNames],
    logits,
    predict(images, batchSize = 256) {
      return tf.tidy(() => {
        const parts: Tensor1D[] = [];
        for (let start = 0; start < images.shape[0]; start += batchSize) {
          const size = Math.min(batchSize, images.shape[0] - start);
          const chunk = tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1]);
          parts.push(tf.argMax(tf.matMul(model.embedImages(chunk), classEmbeddings, false, true), 1) as Tensor1D);
        }
        return (parts.length === 1 ? parts[0] : tf.concat(parts, 0)) as Tensor1D;
      });
    },
    dispose() {
      classEmbeddings.dispose();
    },
  };
}

export interface RetrievalRecall {
  /** For each k: fraction of images whose own caption is among the k most similar captions. */
  readonly imageToText: Readonly<Record<number, number>>;
  /** For each k: fraction of captions whose own image is among the k most similar images. */
  readonly textToImage: Readonly<Record<number, number>>;
}

/**
 * Recall@k of paired embeddings (row i of both is a pair), by cosine similarity. A pair counts at k when
 * fewer than k other candidates are strictly more similar than the true partner (ties favour the pair).
 */
export function retrievalRecall(imageEmbeddings: Tensor2D, textEmbeddings: Tensor2D, ks: readonly number[] = [1, 5]): RetrievalRecall {
  if (imageEmbeddings.rank !== 2 || textEmbeddings.rank !== 2 || imageEmbeddings.shape.join() !== textEmbeddings.shape.join()) {
    throw new SslError(
      'shape-mismatch',
      `retrievalRecall: image [${imageEmbeddings.shape}] and text [${textEmbeddings.shape}] embeddings must both be [N, D].`,
    );
  }
  for (const k of ks) if (!(Number.isInteger(k) && k > 0)) invalidConfig('ks', ks, 'positive integers');
  const n = imageEmbeddings.shape[0];
  const similarity = tf.tidy(() => tf.matMul(l2Normalize(imageEmbeddings), l2Normalize(textEmbeddings), false, true));
  const values = similarity.dataSync();
  similarity.dispose();
  // rank of the true partner = number of candidates strictly more similar.
  const imageRanks = new Int32Array(n);
  const textRanks = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const own = values[i * n + i];
    for (let j = 0; j < n; j++) {
      if (values[i * n + j] > own) imageRanks[i]++;
      if (values[j * n + i] > own) textRanks[i]++;
    }
  }
  const recall = (ranks: Int32Array) => Object.fromEntries(ks.map((k) => [k, ranks.reduce((sum, r) => sum + (r < k ? 1 : 0), 0) / n]));
  return { imageToText: recall(imageRanks), textToImage: recall(textRanks) };
}
