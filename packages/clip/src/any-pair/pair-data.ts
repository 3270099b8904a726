import { SslError, defineDataKind, rangeIds } from '@ssl/core';
import type { AudioDataset } from '@ssl/core';

/**
 * Pairs of samples of two modalities: row i of `first` goes with row i of `second` (a clip and its transcript, a
 * series and its description). Samples are whatever the two modalities read (strings, Float32Array waveforms,
 * image bytes, number arrays).
 */
export interface PairData<First = unknown, Second = unknown> {
  readonly name: string;
  readonly first: readonly First[];
  readonly second: readonly Second[];
  /** A class per pair, for zero-shot read-outs only (never seen by the loss). */
  readonly labels?: Int32Array;
  readonly classNames?: readonly string[];
  /**
   * Pairs with equal group ids are interchangeable (the same text spoken by several voices): each is a positive of
   * the others in the loss, not a false negative. Default: pairs whose second samples are the same string or number.
   */
  readonly groups?: Int32Array;
  /**
   * Shape [H, W, C] of image samples, when a side is images (the run's image encoder is sized from it). Without it the
   * data has no images: the run has no image encoder unless train() is given one.
   */
  readonly imageShape?: readonly [number, number, number];
}

/** A batch of pairs: the samples of the step's ids, side by side. */
export interface PairBatch {
  readonly kind: 'modality-pairs';
  readonly first: readonly unknown[];
  readonly second: readonly unknown[];
  /** Group id of each row (see PairData.groups). */
  readonly groups: Int32Array;
  readonly indices: Int32Array;
}

declare module '@ssl/core' {
  interface DataKinds {
    'modality-pairs': PairBatch;
  }
}

/** Clips paired with what they say (`audio.texts`: the spoken class names and descriptions of loadSpokenClasses). */
export function audioTextPairs(audio: AudioDataset): PairData<Float32Array, string> {
  const { length } = audio;
  return {
    name: `${audio.name}:audio-text`,
    first: Array.from({ length: audio.size }, (_, i) => audio.samples.subarray(i * length, (i + 1) * length)),
    second: audio.texts,
    labels: audio.labels,
    classNames: audio.classNames,
  };
}

function isAudioDataset(data: unknown): data is AudioDataset {
  const audio = data as Partial<AudioDataset> | null;
  return typeof audio === 'object' && audio !== null && audio.samples instanceof Float32Array && Array.isArray(audio.texts);
}

/** PairData as given, or the audio–text pairs of `data` / `data.audio` (an AudioDataset with texts, e.g. loadSpokenClasses). */
export function asPairData(data: unknown, methodId: string): PairData {
  if (isAudioDataset(data)) return audioTextPairs(data);
  const withAudio = data as { audio?: unknown } | null;
  if (typeof withAudio === 'object' && withAudio !== null && isAudioDataset(withAudio.audio)) return audioTextPairs(withAudio.audio);
  const pairs = data as Partial<PairData> | null;
  if (typeof pairs !== 'object' || pairs === null || !Array.isArray(pairs.first) || !Array.isArray(pairs.second)) {
    throw new SslError(
      'data',
      `${methodId} trains on pairs { name, first, second } (row i of each belongs together), or on spoken clips ({ audio } from loadSpokenClasses).`,
    );
  }
  if (pairs.first.length !== pairs.second.length) {
    throw new SslError(
      'data',
      `${methodId}: ${pairs.first.length} first samples but ${pairs.second.length} second ones; pair them row by row.`,
    );
  }
  if (pairs.first.length < 2) throw new SslError('data', `${methodId}: at least 2 pairs are needed (the negatives are the other pairs).`);
  return pairs as PairData;
}

/** Group ids: the given ones, or equal string/number second samples share one, anything else is its own group. */
export function pairGroups(pairs: PairData): Int32Array {
  if (pairs.groups) return pairs.groups;
  const ids = new Map<unknown, number>();
  return Int32Array.from(pairs.second, (sample, row) => {
    if (typeof sample !== 'string' && typeof sample !== 'number') return row + pairs.second.length;
    if (!ids.has(sample)) ids.set(sample, ids.size);
    return ids.get(sample)!;
  });
}

/**
 * The 'modality-pairs' data kind: train() on `PairData` (or spoken clips, paired with their texts). Epochs pass over
 * every pair. The string samples of either side reach the method's build as `captions` (BuildContext's only
 * field for training data: a text modality fits its tokenizer on them); pairs without strings give none. The source
 * has an image shape only when the pairs declare one (`imageShape`).
 */
export const pairData = defineDataKind<'modality-pairs'>({
  name: 'modality-pairs',
  description: 'pairs of samples of two modalities ({ name, first, second }), or spoken clips with their texts ({ audio })',
  open(data, methodId) {
    const pairs = asPairData(data, methodId);
    const groups = pairGroups(pairs);
    const strings = [...pairs.first, ...pairs.second].filter((sample): sample is string => typeof sample === 'string');
    return {
      name: pairs.name,
      ...(pairs.imageShape ? { inputShape: pairs.imageShape } : {}),
      ...(pairs.classNames ? { numClasses: pairs.classNames.length } : {}),
      ...(strings.length > 0 ? { captions: strings } : {}),
      sampleCount: pairs.first.length,
      initialPools: { pairs: { ids: rangeIds(pairs.first.length), ...(pairs.labels ? { labels: pairs.labels } : {}) } },
      epochPool: 'pairs',
      images() {
        throw new SslError('data', `${methodId}: ${pairs.name} holds pairs of samples, not an image set.`);
      },
      batch({ ids }) {
        return {
          batch: {
            kind: 'modality-pairs' as const,
            first: Array.from(ids, (id) => pairs.first[id]),
            second: Array.from(ids, (id) => pairs.second[id]),
            groups: Int32Array.from(ids, (id) => groups[id]),
            indices: ids,
          },
          owned: [],
          imageCount: ids.length,
        };
      },
      describe: () => ({ name: pairs.name, pairs: pairs.first.length, groups: new Set(groups).size }),
    };
  },
});
