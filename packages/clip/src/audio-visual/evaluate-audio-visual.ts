import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { Random, SslError, gatherSampleImages, invalidConfig, l2Normalize } from '@ssl/core';
import type { AudioDataset, HeldOutFigure, ImageDataset } from '@ssl/core';
import type { AudioVisualModel } from './audio-visual';
import { augmentedWaveforms, clipsByClass, type ImageAudioData } from './image-audio-data';

/**
 * Class retrieval recall@k: the fraction of queries whose k most similar gallery items (cosine similarity)
 * include one of the query's class. With paired data whose pairs are defined by class (a spoken name and any
 * image of that garment), this is the retrieval figure that means something: "the pair's own image" is one
 * of dozens that correspond equally. Chance at k = 1 is the share of the query's class in the gallery.
 * Ties are broken against the query (a gallery item as similar as the best match of the class counts as
 * ranked above it), so a constant embedding scores 0.
 */
export function classRetrievalRecall(
  queries: Tensor2D,
  queryLabels: ArrayLike<number>,
  gallery: Tensor2D,
  galleryLabels: ArrayLike<number>,
  ks: readonly number[] = [1, 5],
): Record<number, number> {
  if (queries.rank !== 2 || gallery.rank !== 2 || queries.shape[1] !== gallery.shape[1]) {
    throw new SslError(
      'shape-mismatch',
      `classRetrievalRecall: queries [${queries.shape}] and gallery [${gallery.shape}] must be [N, D] and [M, D].`,
    );
  }
  if (queryLabels.length !== queries.shape[0] || galleryLabels.length !== gallery.shape[0]) {
    throw new SslError(
      'shape-mismatch',
      `classRetrievalRecall: ${queryLabels.length} query labels for ${queries.shape[0]} queries, ${galleryLabels.length} gallery labels for ${gallery.shape[0]} items.`,
    );
  }
  for (const k of ks) if (!(Number.isInteger(k) && k > 0)) invalidConfig('ks', ks, 'positive integers');
  const [n, m] = [queries.shape[0], gallery.shape[0]];
  const similarity = tf.tidy(() => tf.matMul(l2Normalize(queries), l2Normalize(gallery), false, true));
  const values = similarity.dataSync();
  similarity.dispose();
  // Rank of the first match = number of other-class items at least as similar as the best same-class item.
  const ranks = Array.from({ length: n }, (_, i) => {
    let best = -Infinity;
    for (let j = 0; j < m; j++) if (galleryLabels[j] === queryLabels[i]) best = Math.max(best, values[i * m + j]);
    if (best === -Infinity) return Infinity;
    let above = 0;
    for (let j = 0; j < m; j++) if (galleryLabels[j] !== queryLabels[i] && values[i * m + j] >= best) above++;
    return above;
  });
  return Object.fromEntries(ks.map((k) => [k, ranks.reduce((sum, rank) => sum + (rank < k ? 1 : 0), 0) / n]));
}

export interface AudioVisualEvaluation {
  /**
   * Held-out correspondence accuracy: each image once with a clip of its class and once with another's (pairing
   * 'pair': its own clip and another pair's), chance 50%.
   */
  readonly correspondenceAccuracy: number;
  /**
   * Audio→image class retrieval (AVE-Net only): each image's clip of its class is a query over all the held-out
   * images; recall@k = share of queries whose k nearest images include one of its class (chance at 1: 1/classes).
   * Pairing 'pair': each clip queries for its own image (chance k/N).
   */
  readonly audioToImageRecall?: Readonly<Record<number, number>>;
}

/**
 * The held-out read-out of a clip:audio-visual model on labeled images and clips it did not train on (e.g. the
 * test split's images and the test voice): correspondence accuracy and, for AVE-Net, audio→image class
 * retrieval recall@1/@5. Clips get the training augmentation (gain, time shift) from `seed`, so the figure is
 * reproducible and each image hears a different rendition.
 */
export function evaluateAudioVisual(
  model: AudioVisualModel,
  images: ImageDataset,
  audio: AudioDataset,
  options: { seed?: number; ks?: readonly number[]; batchSize?: number; pairing?: 'class' | 'pair' } = {},
): AudioVisualEvaluation {
  const rng = new Random(options.seed ?? 0);
  const augmentRng = new Random((options.seed ?? 0) + 1);
  const batchSize = options.batchSize ?? 250;
  const { positiveClips, negativeClips, labels, clipLabels } =
    options.pairing === 'pair' ? pairClips(images, audio, rng) : classClips(images, audio, rng);
  const waveforms = (clips: readonly number[]) =>
    tf.tensor2d(augmentedWaveforms(audio, clips, augmentRng), [clips.length, audio.length]) as Tensor2D;
  let correct = 0;
  const imageParts: Tensor2D[] = [];
  const audioParts: Tensor2D[] = [];
  for (let start = 0; start < images.size; start += batchSize) {
    const ids = Int32Array.from({ length: Math.min(batchSize, images.size - start) }, (_, i) => start + i);
    const imageBatch = gatherSampleImages([images], ids);
    for (const [clips, positive] of [
      [positiveClips, true],
      [negativeClips, false],
    ] as const) {
      const clipBatch = waveforms(Array.from(ids, (id) => clips[id]));
      const probabilities = model.correspondence(imageBatch, clipBatch);
      probabilities.dataSync().forEach((p) => (correct += p > 0.5 === positive ? 1 : 0));
      if (positive && model.imageEmbeddings && model.audioEmbeddings) {
        imageParts.push(model.imageEmbeddings(imageBatch));
        audioParts.push(model.audioEmbeddings(clipBatch));
      }
      tf.dispose([clipBatch, probabilities]);
    }
    imageBatch.dispose();
  }
  const correspondenceAccuracy = correct / (2 * images.size);
  if (imageParts.length === 0) return { correspondenceAccuracy };
  const [imageEmbeddings, audioEmbeddings] = [tf.concat(imageParts), tf.concat(audioParts)];
  const audioToImageRecall = classRetrievalRecall(audioEmbeddings, clipLabels, imageEmbeddings, labels, options.ks ?? [1, 5]);
  tf.dispose([imageEmbeddings, audioEmbeddings, ...imageParts, ...audioParts]);
  return { correspondenceAccuracy, audioToImageRecall };
}

/** pairing 'class': each image once with a clip of its class and once with another class's; retrieval by class. */
function classClips(images: ImageDataset, audio: AudioDataset, rng: Random) {
  const byClass = clipsByClass({ images, audio }, 'evaluateAudioVisual');
  const labels = images.labels!;
  const classes = byClass.length;
  const positiveClips = Array.from({ length: images.size }, (_, id) => byClass[labels[id]][rng.int(byClass[labels[id]].length)]);
  const negativeClips = Array.from({ length: images.size }, (_, id) => {
    const pool = byClass[(labels[id] + 1 + rng.int(classes - 1)) % classes];
    return pool[rng.int(pool.length)];
  });
  return { positiveClips, negativeClips, labels, clipLabels: positiveClips.map((clip) => audio.labels[clip]) };
}

/**
 * pairing 'pair': each image once with its own clip and once with another pair's; retrieval by pair (each pair its
 * own "class", so recall@k is the share of clips whose own image is among their k nearest images, chance k/N).
 */
function pairClips(images: ImageDataset, audio: AudioDataset, rng: Random) {
  if (images.size !== audio.size || images.size < 2) {
    throw new SslError(
      'data',
      `evaluateAudioVisual: pairing 'pair' needs one clip per image and at least 2 pairs, got ${images.size} images and ${audio.size} clips.`,
    );
  }
  const ids = Array.from({ length: images.size }, (_, id) => id);
  const negativeClips = ids.map((id) => (id + 1 + rng.int(images.size - 1)) % images.size);
  return { positiveClips: ids, negativeClips, labels: ids, clipLabels: ids };
}

/**
 * The runtime's `heldOutTask`: `evaluateAudioVisual` on held-out `{ images, audio }` (the CLI passes the test
 * images and the test voices' clips) as figures beside chance. Recall@k's chance assumes balanced classes:
 * 1 − (1 − 1/classes)^k, the odds that k random images include one of the query's class.
 */
export async function audioVisualHeldOutTask(model: AudioVisualModel, heldOut: unknown, seed: number): Promise<HeldOutFigure[]> {
  const pairs = heldOut as Partial<ImageAudioData> | undefined;
  if (!pairs?.images || !pairs.audio)
    throw new SslError(
      'data',
      "clip:audio-visual's held-out task reads { images, audio }: test images and clips of voices not trained on.",
    );
  if (pairs.pairing === 'pair') return pairHeldOutFigures(model, pairs as ImageAudioData, seed);
  const result = evaluateAudioVisual(model, pairs.images, pairs.audio, { seed });
  const classes = clipsByClass(pairs as ImageAudioData, 'clip:audio-visual').length;
  const figures: HeldOutFigure[] = [
    {
      name: 'image–sound correspondence accuracy',
      kind: 'accuracy',
      value: result.correspondenceAccuracy,
      reference: { name: 'chance', value: 0.5 },
    },
  ];
  for (const [k, recall] of Object.entries(result.audioToImageRecall ?? {})) {
    const chance = 1 - (1 - 1 / classes) ** Number(k);
    figures.push({ name: `audio→image class recall@${k}`, kind: 'accuracy', value: recall, reference: { name: 'chance', value: chance } });
  }
  if (model.imageEmbeddings && model.audioEmbeddings) {
    const zeroShot = spokenZeroShotAccuracy(model, pairs.images, pairs.audio);
    figures.push({
      name: 'zero-shot top-1 from spoken class names',
      kind: 'accuracy',
      value: zeroShot,
      reference: { name: 'chance', value: 1 / classes },
    });
  }
  return figures;
}

/**
 * Held-out pairs (pairing 'pair'): correspondence of each image with its own clip against another pair's, and
 * audio→image pair retrieval — does a recording find its own image among the held-out ones (chance k/N).
 * No zero-shot figure: a user's recordings are not class names.
 */
function pairHeldOutFigures(model: AudioVisualModel, pairs: ImageAudioData, seed: number): HeldOutFigure[] {
  const result = evaluateAudioVisual(model, pairs.images, pairs.audio, { seed, pairing: 'pair' });
  const count = pairs.images.size;
  return [
    {
      name: "image–sound correspondence accuracy (own clip vs another pair's)",
      kind: 'accuracy',
      value: result.correspondenceAccuracy,
      reference: { name: 'chance', value: 0.5 },
    },
    ...Object.entries(result.audioToImageRecall ?? {}).map(([k, recall]) => ({
      name: `audio→image pair recall@${k} (own image among ${count})`,
      kind: 'accuracy' as const,
      value: recall,
      reference: { name: 'chance', value: Math.min(1, Number(k) / count) },
    })),
  ];
}

/**
 * Zero-shot classification from spoken class names: the mean AVE-Net embedding of each class's clips,
 * renormalised (CLIP's prompt ensembling, sec. 3.1.4, with voices for prompts), [classes, embeddingDim].
 * An image's class is the row with the largest dot product with its embedding (`zeroShotPredict`).
 */
export function spokenClassEmbeddings(model: AudioVisualModel, audio: AudioDataset, classes: number): Tensor2D {
  const embedAudio = model.audioEmbeddings;
  if (!embedAudio) throw new SslError('invalid-config', "Spoken class embeddings need AVE-Net's embeddings: train with variant 'ave'.");
  return tf.tidy(() => {
    const clips = embedAudio(tf.tensor2d(audio.samples, [audio.size, audio.length]));
    const rows = Array.from({ length: classes }, (_, label) => {
      const members = Array.from(audio.labels).flatMap((clipLabel, clip) => (clipLabel === label ? [clip] : []));
      if (members.length === 0)
        throw new SslError('data', `spokenClassEmbeddings: no clip of class ${label} (${audio.classNames[label] ?? label}).`);
      return tf.mean(tf.gather(clips, members), 0, true);
    });
    return l2Normalize(tf.concat(rows)) as Tensor2D;
  });
}

/** Class [N] (int32) of each image: the nearest of `classEmbeddings` (from spokenClassEmbeddings). */
export function zeroShotPredict(model: AudioVisualModel, images: Tensor4D, classEmbeddings: Tensor2D): Tensor1D {
  const embedImages = model.imageEmbeddings;
  if (!embedImages) throw new SslError('invalid-config', "Zero-shot prediction needs AVE-Net's embeddings: train with variant 'ave'.");
  return tf.tidy(() => tf.argMax(tf.matMul(embedImages(images), classEmbeddings, false, true), 1) as Tensor1D);
}

/**
 * Zero-shot top-1 on labeled images from the spoken class names of `audio` (e.g. voices never trained on): each
 * image gets the class whose averaged clip embedding is nearest (`spokenClassEmbeddings`, `zeroShotPredict`).
 */
export function spokenZeroShotAccuracy(model: AudioVisualModel, images: ImageDataset, audio: AudioDataset, batchSize = 500): number {
  if (!images.labels) throw new SslError('data', 'spokenZeroShotAccuracy scores labeled images: the images have no labels.');
  const classes = spokenClassEmbeddings(model, audio, images.numClasses ?? audio.classNames.length);
  let correct = 0;
  for (let start = 0; start < images.size; start += batchSize) {
    const ids = Int32Array.from({ length: Math.min(batchSize, images.size - start) }, (_, i) => start + i);
    const predictions = tf.tidy(() => zeroShotPredict(model, gatherSampleImages([images], ids), classes));
    predictions.dataSync().forEach((predicted, row) => (correct += predicted === images.labels![ids[row]] ? 1 : 0));
    predictions.dispose();
  }
  classes.dispose();
  return correct / images.size;
}
