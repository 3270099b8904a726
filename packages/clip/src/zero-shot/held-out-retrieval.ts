import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { SslError } from '@ssl/core';
import type { ClipModel } from '../clip/clip';
import { retrievalRecall } from './zero-shot';
import type { RetrievalRecall } from './zero-shot';

/** Recall@k of held-out pairs with the two levels it must be read against. */
export interface HeldOutRetrieval {
  /** Pairs (images and their captions); every caption is unique among them for the figure to mean retrieval. */
  readonly pairs: number;
  readonly recall: RetrievalRecall;
  /** Recall@k of a random ranking: k / N, in both directions. */
  readonly chance: Readonly<Record<number, number>>;
  /**
   * Recall@k of a model that knows each pair's class perfectly and nothing else: the partner is ranked uniformly
   * among the candidates of its class, min(1, k / n_c) averaged over the pairs (n_c: pairs of the class).
   */
  readonly classOnly: Readonly<Record<number, number>>;
}

/**
 * Image→text and text→image recall@k of a CLIP model on held-out pairs (row i of `images` with `captions[i]`),
 * with chance and the class-only level (`labels`); the images are float32 [0, 1] [N, H, W, C].
 */
export function heldOutRetrieval(
  model: ClipModel,
  images: Tensor4D,
  captions: readonly string[],
  labels: ArrayLike<number>,
  ks: readonly number[] = [1, 5],
): HeldOutRetrieval {
  const pairs = captions.length;
  if (images.shape[0] !== pairs || labels.length !== pairs) {
    throw new SslError('shape-mismatch', `heldOutRetrieval: ${images.shape[0]} images, ${pairs} captions and ${labels.length} labels.`);
  }
  if (new Set(captions).size !== pairs) {
    throw new SslError(
      'data',
      'heldOutRetrieval: two held-out captions are equal, so recall cannot tell them apart; deduplicate first (uniqueCaptionIndices).',
    );
  }
  const [imageEmbeddings, textEmbeddings] = [model.embedImages(images), model.embedTexts(captions)];
  const recall = retrievalRecall(imageEmbeddings, textEmbeddings, ks);
  tf.dispose([imageEmbeddings, textEmbeddings]);
  const perClass = new Map<number, number>();
  for (let i = 0; i < pairs; i++) perClass.set(labels[i], (perClass.get(labels[i]) ?? 0) + 1);
  const classOnly = Object.fromEntries(
    ks.map((k) => [k, Array.from(labels).reduce((sum, label) => sum + Math.min(1, k / perClass.get(label)!), 0) / pairs]),
  );
  return { pairs, recall, chance: Object.fromEntries(ks.map((k) => [k, Math.min(1, k / pairs)])), classOnly };
}
