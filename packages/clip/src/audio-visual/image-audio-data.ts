import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, defineDataKind, gatherSampleImages, rangeIds } from '@ssl/core';
import type { AudioDataset, ImageDataset, ImageViews, Random } from '@ssl/core';

/** Labeled images and labeled sound clips of the same classes: each image pairs with any clip of its class. */
export interface ImageAudioData {
  readonly images: ImageDataset;
  readonly audio: AudioDataset;
}

/**
 * A batch of image–sound pairs: each image with a clip of its own class (correspond = 1) or of another
 * class (correspond = 0), half and half in expectation — Arandjelović & Zisserman's correspondence task,
 * with classes standing in for the video a frame and its audio come from.
 */
export interface ImageAudioBatch extends ImageViews {
  readonly kind: 'image-audio';
  /** Waveforms [B, samples] in [-1, 1]. */
  readonly waveforms: Tensor2D;
  /** 1 when the clip's class is the image's, else 0 (int32: the class of a two-way classification). */
  readonly correspond: Tensor1D;
  /**
   * [B, B] float32: 1 where image i and clip j correspond (clip j speaks image i's class), else 0 — the
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
export function augmentedWaveforms(audio: AudioDataset, clips: readonly number[], rng: Random): Float32Array {
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

/** The 'image-audio' data kind: train() on `{ images, audio }` for methods that learn from image–sound pairs. */
export const imageAudioData = defineDataKind<'image-audio'>({
  name: 'image-audio',
  description: 'labeled images paired with sound clips of their class ({ images, audio })',
  open(data, methodId) {
    const pairs = data as ImageAudioData;
    if (!pairs || typeof pairs !== 'object' || !('images' in pairs) || !('audio' in pairs)) {
      throw new SslError('data', `${methodId} trains on { images, audio }: an image dataset and a sound dataset of the same classes.`);
    }
    const byClass = clipsByClass(pairs, methodId);
    const { images, audio } = pairs;
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
        const clips = Array.from(ids, (id, row) => {
          const label = images.labels![id];
          const other = (label + 1 + viewRng.int(byClass.length - 1)) % byClass.length;
          const pool = byClass[correspond[row] === 1 ? label : other];
          return pool[viewRng.int(pool.length)];
        });
        const imageBatch: Tensor4D = gatherSampleImages([images], ids);
        const waveforms = tf.tensor2d(augmentedWaveforms(audio, clips, viewRng), [ids.length, audio.length]);
        const target = tf.tensor1d(correspond, 'int32');
        const imageClasses = Array.from(ids, (id) => images.labels![id]);
        const matrix = new Float32Array(ids.length * ids.length);
        imageClasses.forEach((imageClass, i) =>
          clips.forEach((clip, j) => (matrix[i * ids.length + j] = audio.labels[clip] === imageClass ? 1 : 0)),
        );
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
      describe: () => ({ name: `${images.name}+${audio.name}`, images: images.size, clips: audio.size, sampleRate: audio.sampleRate }),
    };
  },
});
