import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, defineDataKind, gatherSampleImages, rangeIds } from '@ssl/core';
import type { AudioDataset, ImageDataset, ImageViews, Random } from '@ssl/core';

/**
 * Images and sound clips, paired one of two ways:
 * - `pairing: 'class'` (default): labeled images and labeled clips of the same classes; each image pairs with any
 *   clip of its class (the spoken-classes data: a garment and any voice saying its name).
 * - `pairing: 'pair'`: clip i is image i's own recording (a folder of (image, WAV) pairs, `loadImageAudioFolder`);
 *   the pair is the unit, as a frame and its audio come from one video: the negatives are the clips of other
 *   pairs, whatever their class. Class labels, when the images have them, are kept for evaluation only.
 */
export interface ImageAudioData {
  readonly images: ImageDataset;
  readonly audio: AudioDataset;
  readonly pairing?: 'class' | 'pair';
}

/**
 * A batch of image–sound pairs: each image with a clip of its own class (or its own clip, `pairing: 'pair'`;
 * correspond = 1) or of another class (another pair's; correspond = 0), half and half in expectation —
 * Arandjelović & Zisserman's correspondence task, with classes or pairs standing in for the video a frame and its
 * audio come from.
 */
export interface ImageAudioBatch extends ImageViews {
  readonly kind: 'image-audio';
  /** Waveforms [B, samples] in [-1, 1]. */
  readonly waveforms: Tensor2D;
  /** 1 when the clip's class is the image's, else 0 (int32: the class of a two-way classification). */
  readonly correspond: Tensor1D;
  /**
   * [B, B] float32: 1 where image i and clip j correspond (clip j speaks image i's class, or is its own), else 0 — the
   * diagonal is `correspond`. Every image–clip pair of the batch is a labelled example for free, as every
   * frame–audio pair of two videos is in the AVC task (same source or not).
   */
  readonly correspondMatrix: Tensor2D;
}

declare module '@ssl/core' {
  interface DataKinds {
    'image-audio': ImageAudioBatch;
  }
}

/** Loudness of a clip is random in this range (gain augmentation). */
const GAIN_RANGE: readonly [number, number] = [0.6, 1.4];
/** Clips are rotated in time by up to this fraction of their length (time-shift augmentation). */
const MAX_SHIFT = 0.15;

/** Clip indices by class, checked against the images' classes. */
export function clipsByClass(data: ImageAudioData, methodId: string): number[][] {
  const { images, audio } = data;
  if (!images.labels) throw new SslError('data', `${methodId} pairs images with sounds of their class: the images need labels.`);
  const classes = images.numClasses ?? Math.max(...images.labels) + 1;
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  audio.labels.forEach((label, clip) => byClass[label]?.push(clip));
  const silent = byClass.findIndex((clips) => clips.length === 0);
  if (silent >= 0)
    throw new SslError(
      'data',
      `${methodId}: no sound clip of class ${silent} (${images.classNames?.[silent] ?? silent}) to pair its images with.`,
    );
  return byClass;
}

/** The waveforms of clips with a random gain and time shift each (the augmentations of the AVC paper's audio). */
export function augmentedWaveforms(audio: Pick<AudioDataset, 'samples' | 'length'>, clips: readonly number[], rng: Random): Float32Array {
  const { length } = audio;
  const out = new Float32Array(clips.length * length);
  clips.forEach((clip, row) => {
    const gain = GAIN_RANGE[0] + (GAIN_RANGE[1] - GAIN_RANGE[0]) * rng.uniform();
    const shift = Math.round((2 * rng.uniform() - 1) * MAX_SHIFT * length);
    const source = audio.samples.subarray(clip * length, (clip + 1) * length);
    for (let t = 0; t < length; t++) out[row * length + t] = gain * source[(((t - shift) % length) + length) % length];
  });
  return out;
}

/** How a batch draws each image's clip (a corresponding one or not) and which image–clip pairs correspond. */
interface ClipPicker {
  /** The clip of each row: corresponding to the row's image where `correspond` is 1, not where it is 0. */
  clips(ids: Int32Array, correspond: readonly number[], rng: Random): number[];
  corresponds(imageId: number, clip: number): boolean;
}

/** pairing 'class': any clip of the image's class, or any clip of another class. */
function classClipPicker(byClass: number[][], { images, audio }: ImageAudioData): ClipPicker {
  const classes = byClass.length;
  return {
    clips: (ids, correspond, rng) =>
      Array.from(ids, (id, row) => {
        const label = images.labels![id];
        // The other class is drawn for every row, used or not: the random stream (and the figures) of earlier releases.
        const other = (label + 1 + rng.int(classes - 1)) % classes;
        const pool = byClass[correspond[row] === 1 ? label : other];
        return pool[rng.int(pool.length)];
      }),
    corresponds: (imageId, clip) => audio.labels[clip] === images.labels![imageId],
  };
}

/**
 * pairing 'pair': the image's own clip, or another pair's (of its class or not: pairs are the unit). The rows
 * that get another pair's clip get each other's, rotated by one, so every image of the batch has its own clip
 * somewhere in the batch: each row of the B × B matrix has exactly one positive, as in CLIP, while the B given
 * pairs stay half matching, half not.
 */
function ownClipPicker(data: ImageAudioData, methodId: string): ClipPicker {
  const { images, audio } = data;
  if (images.size !== audio.size) {
    throw new SslError(
      'data',
      `${methodId}: pairing 'pair' needs one clip per image (clip i is image i's), got ${images.size} images and ${audio.size} clips.`,
    );
  }
  if (images.size < 2)
    throw new SslError('data', `${methodId}: pairing 'pair' needs at least 2 pairs (the negatives are other pairs' clips).`);
  return {
    clips(ids, correspond, rng) {
      const clips = Array.from(ids);
      const swapped = clips.flatMap((_, row) => (correspond[row] === 1 ? [] : [row]));
      if (swapped.length === 1) {
        // Nobody to swap with: the clip of any other pair.
        clips[swapped[0]] = (ids[swapped[0]] + 1 + rng.int(images.size - 1)) % images.size;
      } else {
        swapped.forEach((row, k) => (clips[row] = ids[swapped[(k + 1) % swapped.length]]));
      }
      return clips;
    },
    corresponds: (imageId, clip) => imageId === clip,
  };
}

/** The 'image-audio' data kind: train() on `{ images, audio }` for methods that learn from image–sound pairs. */
export const imageAudioData = defineDataKind<'image-audio'>({
  name: 'image-audio',
  description:
    "images paired with sound clips of their class ({ images, audio }) or with their own clip ({ images, audio, pairing: 'pair' })",
  open(data, methodId) {
    const pairs = data as ImageAudioData;
    if (!pairs || typeof pairs !== 'object' || !('images' in pairs) || !('audio' in pairs)) {
      throw new SslError(
        'data',
        `${methodId} trains on { images, audio }: an image dataset and a sound dataset of the same classes, or image–clip pairs ({ images, audio, pairing: 'pair' }, e.g. loadImageAudioFolder).`,
      );
    }
    const { images, audio } = pairs;
    const pickClips = pairs.pairing === 'pair' ? ownClipPicker(pairs, methodId) : classClipPicker(clipsByClass(pairs, methodId), pairs);
    return {
      name: `${images.name}+${audio.name}`,
      inputShape: images.shape as [number, number, number],
      ...(images.numClasses === undefined ? {} : { numClasses: images.numClasses }),
      sampleCount: images.size,
      initialPools: { images: { ids: rangeIds(images.size) } },
      epochPool: 'images',
      images: (ids) => gatherSampleImages([images], ids),
      batch({ ids, viewRng }) {
        const correspond = Array.from(ids, () => (viewRng.uniform() < 0.5 ? 1 : 0));
        const clips = pickClips.clips(ids, correspond, viewRng);
        const imageBatch: Tensor4D = gatherSampleImages([images], ids);
        const waveforms = tf.tensor2d(augmentedWaveforms(audio, clips, viewRng), [ids.length, audio.length]);
        const target = tf.tensor1d(correspond, 'int32');
        const matrix = new Float32Array(ids.length * ids.length);
        ids.forEach((id, i) => clips.forEach((clip, j) => (matrix[i * ids.length + j] = pickClips.corresponds(id, clip) ? 1 : 0)));
        const correspondMatrix = tf.tensor2d(matrix, [ids.length, ids.length]);
        return {
          batch: {
            kind: 'image-audio' as const,
            images: imageBatch,
            views: [imageBatch],
            waveforms,
            correspond: target,
            correspondMatrix,
            indices: ids,
          },
          owned: [imageBatch, waveforms, target, correspondMatrix],
          imageCount: ids.length,
        };
      },
      describe: () => ({
        name: `${images.name}+${audio.name}`,
        images: images.size,
        clips: audio.size,
        sampleRate: audio.sampleRate,
        pairing: pairs.pairing ?? 'class',
      }),
    };
  },
});
