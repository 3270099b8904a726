import { readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { SslError } from '../errors';
import { Random } from '../random';
import type { AudioDataset } from '../audio/spoken-classes';
import { parseWav, resample } from '../audio/wav';
import { makeDataset, subset, type ImageDataset } from './dataset';
import { listDir, loadImageFile, validateImageLoadOptions, type ImageLoadOptions } from './image-folder';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
const AUDIO_EXTENSION = '.wav';

export interface ImageAudioFolderOptions extends ImageLoadOptions {
  /** Rate every recording is resampled to, Hz (clip:audio-visual's `sampleRate`). */
  sampleRate: number;
  /** Samples every recording is cut or zero-padded to (clip:audio-visual's `clipSamples`). */
  clipSamples: number;
  name?: string;
}

/**
 * Images and their own recordings: clip i of `audio` was recorded with image i of `images` (`pairing: 'pair'`).
 * With class sub-folders both carry the class labels (for evaluation, not for pairing); without them each pair is
 * its own class (labels = pair index, class names = the pairs' base names).
 */
export interface ImageAudioPairs {
  readonly images: ImageDataset;
  readonly audio: AudioDataset;
  /** The unit of correspondence: each image with its own clip, not with any clip of its class. */
  readonly pairing: 'pair';
  /** Where pair i came from. */
  readonly files: readonly { readonly image: string; readonly audio: string }[];
}

/**
 * Loads a folder of (image, WAV) pairs: each PNG/JPEG with a `.wav` of the same base name beside it (`0001.jpg` +
 * `0001.wav`: a video frame and the audio around it, a photo and its recording), either all at the top level
 * (unlabeled) or in one sub-folder per class (`dir/<class>/…`, labels = sorted sub-folder index). Images are
 * decoded and resized as `loadImageFolder` does; each WAV is read with `parseWav` (16-bit PCM, mixed to mono),
 * resampled to `sampleRate` and cut to its middle `clipSamples` (the audio around the frame) or zero-padded at
 * the end. Files are visited in sorted order; a missing partner, an unreadable file or an empty class is an
 * SslError('data') naming the file.
 */
export async function loadImageAudioFolder(dir: string, options: ImageAudioFolderOptions): Promise<ImageAudioPairs> {
  const where = `loadImageAudioFolder(${dir})`;
  validateImageLoadOptions(options, where);
  for (const field of ['sampleRate', 'clipSamples'] as const) {
    if (!(Number.isInteger(options[field]) && options[field] > 0)) {
      throw new SslError('invalid-config', `${where}: ${field} must be a positive integer, got ${JSON.stringify(options[field])}.`);
    }
  }
  const { folders, pairs: topLevel } = await readPairFolder(dir);
  const files: { image: string; audio: string }[] = [];
  const labelList: number[] = [];
  let classNames: string[] | undefined;
  if (folders.length > 0) {
    if (topLevel.length > 0) {
      throw new SslError(
        'data',
        `${topLevel[0].image}: ${dir} holds class sub-folders and also pairs at its top level; move every pair into a class folder, or the folders out.`,
        { details: { file: topLevel[0].image } },
      );
    }
    classNames = folders;
    for (let label = 0; label < folders.length; label++) {
      const classDir = join(dir, folders[label]);
      const { pairs, folders: nested } = await readPairFolder(classDir);
      if (nested.length > 0) {
        throw new SslError('data', `${join(classDir, nested[0])}: class folders hold pairs, not further folders; flatten it.`, {
          details: { dir: join(classDir, nested[0]) },
        });
      }
      if (pairs.length === 0) {
        throw new SslError('data', `${classDir}: class folder "${folders[label]}" holds no (image, WAV) pairs; add some or remove the folder.`, {
          details: { dir: classDir },
        });
      }
      for (const pair of pairs) {
        files.push(pair);
        labelList.push(label);
      }
    }
  } else {
    files.push(...topLevel);
  }
  if (files.length === 0) {
    throw new SslError('data', `${dir}: holds no (image, WAV) pairs; put each image beside a .wav of the same base name.`, { details: { dir } });
  }

  const [height, width] = options.size;
  const imageSize = height * width * options.channels;
  const imageBytes = new Uint8Array(files.length * imageSize);
  const samples = new Float32Array(files.length * options.clipSamples);
  for (let i = 0; i < files.length; i++) {
    await loadImageFile(files[i].image, options, imageBytes.subarray(i * imageSize, (i + 1) * imageSize));
    samples.set(await loadClip(files[i].audio, options), i * options.clipSamples);
  }
  const name = options.name ?? dir;
  const pairNames = files.map((pair) => basename(pair.image, extname(pair.image)));
  const labels = classNames ? Int32Array.from(labelList) : Int32Array.from(files, (_, i) => i);
  const images = makeDataset({
    images: imageBytes,
    shape: [height, width, options.channels],
    ...(classNames ? { labels, classNames } : {}),
    name,
    size: files.length,
  });
  const audio: AudioDataset = {
    name: `${name} (audio)`,
    sampleRate: options.sampleRate,
    length: options.clipSamples,
    samples,
    labels,
    classNames: classNames ?? pairNames,
    // No transcript or speaker is known for a user's recording: the texts are the pairs' base names.
    texts: pairNames,
    voices: files.map(() => ''),
    size: files.length,
  };
  return { images, audio, pairing: 'pair', files };
}

/** The sub-folders and the (image, WAV) pairs of one folder; a file without its partner is an error. */
async function readPairFolder(dir: string): Promise<{ folders: string[]; pairs: { image: string; audio: string }[] }> {
  const folders: string[] = [];
  const images = new Map<string, string>();
  const recordings = new Map<string, string>();
  for (const entry of await listDir(dir)) {
    const path = join(dir, entry);
    const extension = extname(entry).toLowerCase();
    const base = entry.slice(0, entry.length - extension.length);
    if ((await stat(path)).isDirectory()) folders.push(entry);
    else if (IMAGE_EXTENSIONS.has(extension)) {
      const other = images.get(base);
      if (other) {
        throw new SslError('data', `${path}: ${basename(other)} has the same base name; which image goes with ${base}.wav? Rename one.`, {
          details: { file: path },
        });
      }
      images.set(base, path);
    } else if (extension === AUDIO_EXTENSION) recordings.set(base, path);
  }
  const counts = `(${dir} holds ${images.size} images and ${recordings.size} WAV files)`;
  for (const [base, path] of images) {
    if (!recordings.has(base)) {
      throw new SslError('data', `${path}: no ${base}.wav beside it ${counts}; every image needs its recording of the same base name.`, {
        details: { file: path },
      });
    }
  }
  for (const [base, path] of recordings) {
    if (!images.has(base)) {
      throw new SslError('data', `${path}: no ${base}.png/.jpg/.jpeg beside it ${counts}; every recording needs its image of the same base name.`, {
        details: { file: path },
      });
    }
  }
  return { folders, pairs: [...images].map(([base, image]) => ({ image, audio: recordings.get(base)! })) };
}

/** One WAV file as `clipSamples` samples at `sampleRate`: the middle of a longer recording, a shorter one zero-padded at the end. */
async function loadClip(path: string, options: { sampleRate: number; clipSamples: number }): Promise<Float32Array> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (cause) {
    throw new SslError('data', `${path}: cannot read the recording (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}).`, {
      cause,
      details: { file: path },
    });
  }
  const clip = resample(parseWav(bytes, path), options.sampleRate).samples;
  if (clip.length === 0) throw new SslError('data', `${path}: the recording holds no samples.`, { details: { file: path } });
  if (clip.length >= options.clipSamples) {
    const start = Math.floor((clip.length - options.clipSamples) / 2);
    return clip.subarray(start, start + options.clipSamples);
  }
  const padded = new Float32Array(options.clipSamples);
  padded.set(clip);
  return padded;
}

/** True when `dir` (or one of its sub-folders) holds a .wav file: a folder of pairs rather than of images alone. */
export async function holdsImageAudioPairs(dir: string): Promise<boolean> {
  const entries = await listDir(dir);
  if (entries.some((entry) => extname(entry).toLowerCase() === AUDIO_EXTENSION)) return true;
  for (const entry of entries) {
    const path = join(dir, entry);
    if ((await stat(path)).isDirectory() && (await listDir(path)).some((name) => extname(name).toLowerCase() === AUDIO_EXTENSION)) return true;
  }
  return false;
}

/** The pairs at `indices`, images and clips kept together. */
export function subsetImageAudioPairs(pairs: ImageAudioPairs, indices: ArrayLike<number>, name?: string): ImageAudioPairs {
  const images = subset(pairs.images, indices, name);
  const { audio } = pairs;
  const ids = Array.from(indices);
  const samples = new Float32Array(ids.length * audio.length);
  ids.forEach((id, k) => samples.set(audio.samples.subarray(id * audio.length, (id + 1) * audio.length), k * audio.length));
  return {
    images,
    audio: {
      ...audio,
      name: `${images.name} (audio)`,
      samples,
      labels: Int32Array.from(ids, (id) => audio.labels[id]),
      texts: ids.map((id) => audio.texts[id]),
      voices: ids.map((id) => audio.voices[id]),
      size: ids.length,
    },
    pairing: 'pair',
    files: ids.map((id) => pairs.files[id]),
  };
}

/**
 * Splits pairs into train and held-out test pairs, a `testFraction` of each class (of all pairs when unlabeled),
 * by seed: the held-out pairs' images and clips are never trained on.
 */
export function splitImageAudioPairs(pairs: ImageAudioPairs, options: { testFraction: number; seed: number }): { train: ImageAudioPairs; test: ImageAudioPairs } {
  const { testFraction, seed } = options;
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new SslError('invalid-config', `splitImageAudioPairs: testFraction must lie strictly between 0 and 1, got ${testFraction}.`);
  }
  const random = new Random(seed);
  const groups = new Map<number, number[]>();
  const classLabels = pairs.images.labels;
  for (let id = 0; id < pairs.images.size; id++) {
    const key = classLabels ? classLabels[id] : 0;
    const group = groups.get(key) ?? [];
    group.push(id);
    groups.set(key, group);
  }
  const train: number[] = [];
  const test: number[] = [];
  for (const ids of groups.values()) {
    const order = random.permutation(ids.length);
    const testCount = Math.round(ids.length * testFraction);
    order.forEach((position, k) => (k < testCount ? test : train).push(ids[position]));
  }
  const byId = (a: number, b: number) => a - b;
  return {
    train: subsetImageAudioPairs(pairs, train.sort(byId), `${pairs.images.name}/train`),
    test: subsetImageAudioPairs(pairs, test.sort(byId), `${pairs.images.name}/test`),
  };
}
