import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SslError } from '../errors';
import { parseIdx } from '../data/idx';
import { FASHION_MNIST } from '../data/mnist';
import { decodeMuLaw } from './wav';

/** Clips of equal length, mono, in [-1, 1], each with a class label and what was said. */
export interface AudioDataset {
  readonly name: string;
  readonly sampleRate: number;
  /** Samples per clip. */
  readonly length: number;
  /** size × length samples, clip after clip. */
  readonly samples: Float32Array;
  readonly labels: Int32Array;
  readonly classNames: readonly string[];
  /** The sentence spoken in each clip, and the synthetic voice that spoke it. */
  readonly texts: readonly string[];
  readonly voices: readonly string[];
  readonly size: number;
}

/** File names of a spoken-classes folder, by split: μ-law audio [N, length], labels [N], texts and voices. */
export const SPOKEN_CLASSES_FILES = {
  train: { audio: 'train-audio-idx2-ulaw.gz', labels: 'train-labels-idx1-ubyte.gz' },
  test: { audio: 'test-audio-idx2-ulaw.gz', labels: 'test-labels-idx1-ubyte.gz' },
  metadata: 'clips.json',
} as const;

export interface LoadSpokenClassesOptions {
  split?: 'train' | 'test';
  /** 'sample' (default): the clips shipped with @ssl/core (data/spoken-classes-sample); else a folder that make-speech-sample.ts wrote. */
  source?: 'sample' | (string & {});
}

/**
 * Fashion-MNIST's class names and short descriptions spoken by espeak-ng voices at 8 kHz (see
 * data/make-speech-sample.ts): speech with the image set's labels, so images and sounds of the same class can
 * be paired. The test split is spoken by voices the train split never hears.
 */
export function loadSpokenClasses(options: LoadSpokenClassesOptions = {}): AudioDataset {
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test')
    throw new SslError('invalid-config', `loadSpokenClasses: split must be 'train' or 'test', got ${JSON.stringify(split)}.`);
  const dir = options.source === undefined || options.source === 'sample' ? findSample() : resolve(options.source);
  const files = SPOKEN_CLASSES_FILES[split];
  for (const file of [files.audio, files.labels, SPOKEN_CLASSES_FILES.metadata]) {
    if (!existsSync(join(dir, file)))
      throw new SslError('data', `loadSpokenClasses: ${join(dir, file)} is missing; pass a folder that make-speech-sample.ts wrote.`);
  }
  const audio = parseIdx(readFileSync(join(dir, files.audio)), files.audio);
  const labels = parseIdx(readFileSync(join(dir, files.labels)), files.labels);
  const metadata = JSON.parse(readFileSync(join(dir, SPOKEN_CLASSES_FILES.metadata), 'utf8')) as {
    sampleRate: number;
    splits: Record<'train' | 'test', { texts: string[]; voices: string[] }>;
  };
  const [size, length] = audio.dims;
  if (audio.dims.length !== 2 || labels.dims[0] !== size || metadata.splits[split].texts.length !== size) {
    throw new SslError(
      'data',
      `loadSpokenClasses: ${dir} holds ${size} clips but ${labels.dims[0]} labels and ${metadata.splits[split].texts.length} texts for ${split}.`,
    );
  }
  return {
    name: `spoken-classes/${split}`,
    sampleRate: metadata.sampleRate,
    length,
    samples: decodeMuLaw(audio.data),
    labels: Int32Array.from(labels.data),
    classNames: FASHION_MNIST.classNames,
    texts: metadata.splits[split].texts,
    voices: metadata.splits[split].voices,
    size,
  };
}

function findSample(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'data', 'spoken-classes-sample');
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    dir = dirname(dir);
  }
  throw new SslError(
    'data',
    'loadSpokenClasses: the bundled data/spoken-classes-sample folder of @ssl/core is missing; reinstall @ssl/core.',
  );
}
