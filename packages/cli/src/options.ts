import { constants, existsSync } from 'node:fs';
import { access, readFile, readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { SPOKEN_CLASSES_FILES, SslError, holdsImageAudioPairs } from '@ssl/core';

/**
 * Built-in datasets `--data` accepts by name; anything else must be a readable folder, .jsonl or .csv file.
 * The MNISTs are 28×28×1; the emoji set (Noto Color Emoji glyphs, RGB, 9 Unicode groups; `emoji` renders
 * every glyph from the system font, `emoji-sample` is bundled) is resized to --image-size / --channels.
 */
export const NAMED_DATASETS = ['fashion-mnist', 'fashion-mnist-sample', 'mnist', 'emoji', 'emoji-sample'] as const;
export type NamedDataset = (typeof NAMED_DATASETS)[number];

/** Built-in text corpora `--data` accepts by name for text methods (core's 'text' data kind): @ssl/core's fortunes sample. */
export const NAMED_TEXT_CORPORA = ['fortunes-sample'] as const;
export type NamedTextCorpus = (typeof NAMED_TEXT_CORPORA)[number];

/** Spoken clips with the texts they say, by name, for methods on modality pairs (clip:audio-text): @ssl/core's bundled sample. */
export const NAMED_SPOKEN_CLIPS = ['spoken-classes-sample'] as const;

/** Text files `--data` reads as a corpus, one text a line (gzipped too). */
const TEXT_FILE_EXTENSIONS = ['.txt', '.txt.gz'];

export type DataSource =
  | { kind: 'named'; name: NamedDataset }
  /** A folder with one sub-folder of images per class (or unlabeled images at the top level). */
  | { kind: 'image-folder'; path: string }
  /** Image–caption pairs for CLIP-style methods: a .jsonl of {"image", "caption"} or a .csv with image,caption columns. */
  | { kind: 'image-text-pairs'; path: string }
  /** WebDataset tar shards (`ssl shards make`), streamed: images are read as training needs them, not all held in memory. */
  | { kind: 'shards'; path: string }
  /**
   * A folder of (image, WAV) pairs of the same base name, at its top level or in class sub-folders, for image–audio
   * methods. `clip` is the method's sampleRate and clipSamples the recordings are fitted to (set by the run's plan).
   */
  | { kind: 'image-audio-folder'; path: string; clip?: { sampleRate: number; clipSamples: number } }
  /** A text corpus for text methods: the bundled fortunes sample (its held-out split scores the method's own task) or a file. */
  | { kind: 'text-sample'; name: NamedTextCorpus }
  /** A text file, one text a line (.txt or .txt.gz). */
  | { kind: 'text-file'; path: string }
  /**
   * Spoken clips with the texts they say (core's loadSpokenClasses), for methods on modality pairs (clip:audio-text):
   * the bundled sample (no path) or a folder make-speech-sample.ts wrote. Its test split, spoken by voices the train
   * split never hears, is the method's held-out data.
   */
  | { kind: 'spoken-clips'; path?: string };

/** A source of labeled images (what `--eval-data` accepts): a built-in dataset or a folder with class sub-folders. */
export type LabeledDataSource = Exclude<
  DataSource,
  | { kind: 'image-text-pairs' }
  | { kind: 'shards' }
  | { kind: 'image-audio-folder' }
  | { kind: 'text-sample' }
  | { kind: 'text-file' }
  | { kind: 'spoken-clips' }
>;

/** True for a text corpus (what methods of core's 'text' data kind train on). */
export function isTextSource(source: DataSource): source is Extract<DataSource, { kind: 'text-sample' | 'text-file' }> {
  return source.kind === 'text-sample' || source.kind === 'text-file';
}

/** True for data without images (a text corpus, spoken clips with their texts): the run has no image encoder. */
export function hasNoImages(source: DataSource): source is Extract<DataSource, { kind: 'text-sample' | 'text-file' | 'spoken-clips' }> {
  return isTextSource(source) || source.kind === 'spoken-clips';
}

/** True for a folder make-speech-sample.ts wrote (clips.json and the train split's μ-law audio). */
function holdsSpokenClips(path: string): boolean {
  return existsSync(join(path, SPOKEN_CLASSES_FILES.metadata)) && existsSync(join(path, SPOKEN_CLASSES_FILES.train.audio));
}

export function parsePositiveInteger(value: string): number {
  const number = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(number) || number <= 0) {
    throw new InvalidArgumentError('expected a positive integer.');
  }
  return number;
}

export function parseNonNegativeInteger(value: string): number {
  const number = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(number)) throw new InvalidArgumentError('expected a non-negative integer.');
  return number;
}

export function parseChannels(value: string): 1 | 3 {
  if (value.trim() === '1') return 1;
  if (value.trim() === '3') return 3;
  throw new InvalidArgumentError('expected 1 (grayscale) or 3 (RGB).');
}

export function parsePositiveNumber(value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number <= 0)
    throw new InvalidArgumentError('expected a positive number, e.g. 0.001 or 3e-4.');
  return number;
}

/** Files of image–caption pairs core's loadImageTextPairs reads. */
const PAIR_FILE_EXTENSIONS = ['.jsonl', '.csv'];

/**
 * Resolves `--data` to a dataset name, an image folder, a folder of (image, WAV) pairs (one holding .wav files, at
 * its top level or in its sub-folders), a folder of tar shards or an image–text .jsonl file, checking that a path
 * exists and is readable now rather than minutes later when the trainer first opens it.
 */
export async function resolveDataSource(value: string, cwd: string): Promise<DataSource> {
  if ((NAMED_DATASETS as readonly string[]).includes(value)) return { kind: 'named', name: value as NamedDataset };
  if ((NAMED_TEXT_CORPORA as readonly string[]).includes(value)) return { kind: 'text-sample', name: value as NamedTextCorpus };
  if ((NAMED_SPOKEN_CLIPS as readonly string[]).includes(value)) return { kind: 'spoken-clips' };
  const path = resolve(cwd, value);
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) {
    throw new SslError(
      'data',
      `--data ${JSON.stringify(value)} is neither a built-in dataset (${NAMED_DATASETS.join(', ')}) nor an existing path (looked for ${path}).`,
      { details: { value, path } },
    );
  }
  try {
    await access(path, constants.R_OK | (info.isDirectory() ? constants.X_OK : 0));
  } catch (error) {
    throw new SslError('data', `--data ${path} is not readable by this user; check its permissions.`, { cause: error, details: { path } });
  }
  if (info.isDirectory()) {
    if (holdsSpokenClips(path)) return { kind: 'spoken-clips', path };
    if ((await readdir(path)).some((name) => name.endsWith('.tar'))) return { kind: 'shards', path };
    return (await holdsImageAudioPairs(path)) ? { kind: 'image-audio-folder', path } : { kind: 'image-folder', path };
  }
  if (PAIR_FILE_EXTENSIONS.includes(extname(path).toLowerCase())) return { kind: 'image-text-pairs', path };
  if (TEXT_FILE_EXTENSIONS.some((extension) => path.toLowerCase().endsWith(extension))) return { kind: 'text-file', path };
  throw new SslError(
    'data',
    `--data ${path} is a file but not image–caption pairs (.jsonl or .csv) or text (.txt, .txt.gz); pass a folder of images, a pairs file or one of ${[...NAMED_DATASETS, ...NAMED_TEXT_CORPORA].join(', ')}.`,
    {
      details: { path },
    },
  );
}

export function describeDataSource(source: DataSource): string {
  if (source.kind === 'spoken-clips') return source.path ?? NAMED_SPOKEN_CLIPS[0];
  return source.kind === 'named' || source.kind === 'text-sample' ? source.name : source.path;
}

/**
 * The `--config file.json` contents: training settings plus a `method` object with the method's own
 * options. Command-line flags override the file.
 */
export interface RunConfigFile {
  data?: string;
  encoder?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  backend?: string;
  /** Fields of the `encoder` preset's spec to replace, e.g. { "patchSize": 7 } for vit28 (core's `withEncoderOptions`). */
  encoderOptions?: Record<string, unknown>;
  /** Passed to the method's `validate`/`build`, e.g. { "temperature": 0.2 } for SimCLR. */
  method?: Record<string, unknown>;
}

const CONFIG_FILE_FIELDS: Record<
  keyof RunConfigFile,
  'string' | 'positive-integer' | 'non-negative-integer' | 'positive-number' | 'object'
> = {
  data: 'string',
  encoder: 'string',
  encoderOptions: 'object',
  epochs: 'positive-integer',
  batchSize: 'positive-integer',
  lr: 'positive-number',
  seed: 'non-negative-integer',
  backend: 'string',
  method: 'object',
};

export async function readRunConfigFile(path: string, cwd: string): Promise<RunConfigFile> {
  const absolutePath = resolve(cwd, path);
  let text: string;
  try {
    text = await readFile(absolutePath, 'utf8');
  } catch (error) {
    throw new SslError('io', `--config ${absolutePath} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`, {
      cause: error,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SslError('invalid-config', `--config ${absolutePath} is not valid JSON: ${(error as Error).message}.`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SslError('invalid-config', `--config ${absolutePath} must hold a JSON object like { "epochs": 10, "method": { ... } }.`);
  }
  const allowed = Object.keys(CONFIG_FILE_FIELDS);
  for (const [key, value] of Object.entries(parsed)) {
    const kind = CONFIG_FILE_FIELDS[key as keyof RunConfigFile];
    if (kind === undefined) {
      throw new SslError(
        'invalid-config',
        `--config ${absolutePath}: unknown key "${key}"; allowed keys are ${allowed.join(', ')} (method options go under "method").`,
      );
    }
    const valid =
      kind === 'string'
        ? typeof value === 'string'
        : kind === 'object'
          ? typeof value === 'object' && value !== null && !Array.isArray(value)
          : typeof value === 'number' &&
            Number.isFinite(value) &&
            (kind === 'positive-number'
              ? value > 0
              : Number.isInteger(value) && (kind === 'non-negative-integer' ? value >= 0 : value > 0));
    if (!valid) {
      throw new SslError(
        'invalid-config',
        `--config ${absolutePath}: "${key}" = ${JSON.stringify(value)} must be a ${kind.replace(/-/g, ' ')}.`,
      );
    }
  }
  return parsed as RunConfigFile;
}
