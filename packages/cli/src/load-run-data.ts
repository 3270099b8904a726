import { resolve } from 'node:path';
import {
  ImageStream,
  SslError,
  buildSampleIndex,
  labeledSplit,
  loadEmoji,
  loadFortunesSample,
  loadTextFile,
  loadFashionMnist,
  loadImageAudioFolder,
  loadImageFolder,
  loadImageTextPairs,
  loadSpokenClasses,
  loadMnist,
  splitImageAudioPairs,
  trainTestSplit,
  type ImageDataset,
  type ImageShape,
  type StreamCorruptReport,
  type TrainData,
} from '@ssl/core';
import { hasNoImages, isTextSource } from './options';
import type { DataSource, LabeledDataSource } from './options';

/** Size images from folders and .jsonl pairs are resized to; the built-in datasets are 28×28×1. */
export interface ImageGeometry {
  size: number;
  channels: 1 | 3;
}

export const DEFAULT_IMAGE_GEOMETRY: ImageGeometry = { size: 32, channels: 3 };

/** Share of a labeled image folder held out for evaluation when it has no test split of its own. */
const FOLDER_TEST_FRACTION = 0.2;

/**
 * An image folder of at least this many images is streamed (core's ImageStream: decode workers, images read as
 * each step needs them) instead of decoded into memory before the first step: 50 000 images take minutes to
 * decode on one thread, and their decoded copies grow with the folder (200 000 at 32×32×3 are 0.6 GB, at
 * 224×224×3 30 GB). Evaluation then needs --eval-data, as for shards.
 */
export const STREAM_FOLDER_MIN_IMAGES = 50_000;

export interface RunData {
  /** What the trainer consumes. */
  train: TrainData;
  /** Labeled images the evaluation fits kNN and probes on (the training images with their labels). */
  evaluationTrain?: ImageDataset;
  /** Held-out labeled images the evaluation scores on. */
  evaluationTest?: ImageDataset;
  /**
   * Held-out data in the form the method trains on, for its own task's read-out, when that is not `evaluationTest`
   * (image–audio pairs; the held-out sentences of a text corpus).
   */
  heldOut?: unknown;
  /** The training images' shape; undefined for data without images (a text corpus, spoken clips with their texts). */
  inputShape?: ImageShape;
  /** Releases what the data holds open (a shard stream's decode workers); called once training has ended. */
  close?: () => Promise<void>;
  /** Streamed data (shards, a large folder): how it is read, in one line for the terminal. */
  streamed?: string;
  /** Streamed data: the images that could not be decoded so far (skipped), in one line; undefined when none. */
  corruptImages?: () => string | undefined;
}

/**
 * The input shape a data source will have, known before loading so the encoder can be checked early; undefined for
 * data without images (a corpus, spoken clips with their texts), whose methods build their own encoders.
 */
export function inputShapeOf(source: DataSource, geometry: ImageGeometry): ImageShape | undefined {
  if (hasNoImages(source)) return undefined;
  return source.kind === 'named' && !isEmoji(source) ? [28, 28, 1] : [geometry.size, geometry.size, geometry.channels];
}

/**
 * Loads training data and the labeled train/test pair used to evaluate the encoder afterwards: from
 * `evaluationSource` when given (`--eval-data`: a CLIP run trained on pairs, scored on a labeled set), else
 * from the training source when it is labeled. For semi-supervised runs, `labelsPerClass` labels are kept per
 * class and the rest of the training set is unlabeled; evaluation still uses every label of the training
 * split (it measures the representation).
 */
export async function loadRunData(
  source: DataSource,
  options: {
    geometry: ImageGeometry;
    seed: number;
    labelsPerClass?: number;
    needEvaluation: boolean;
    evaluationSource?: LabeledDataSource;
    /** --audio: spoken-classes clips to pair with the images by class (image–audio methods). */
    audio?: string;
    /** Image folders of at least this many images are streamed (default STREAM_FOLDER_MIN_IMAGES). */
    streamFolderMinImages?: number;
  },
): Promise<RunData> {
  const inputShape = inputShapeOf(source, options.geometry);
  const evaluationSource = options.needEvaluation ? options.evaluationSource : undefined;
  const separate = evaluationSource ? await loadLabeledImages(evaluationSource, { ...options, needEvaluation: true }) : undefined;
  const evaluationOf = (split: { train: ImageDataset; test?: ImageDataset }) =>
    split.train.labels && split.test?.labels ? { evaluationTrain: split.train, evaluationTest: split.test } : {};
  if (isTextSource(source)) {
    // The bundled sample's held-out sentences score the method's own task; a file is trained on whole.
    if (source.kind === 'text-file') return { train: loadTextFile(source.path), inputShape };
    return { train: loadFortunesSample({ split: 'train' }), heldOut: loadFortunesSample({ split: 'test' }), inputShape };
  }
  if (source.kind === 'spoken-clips') {
    // Clips with the texts they say ({ audio }: the pair kind reads them as audio–text pairs). The test split, voices
    // the training never hears, is the method's held-out task.
    const clips = source.path ?? 'sample';
    const train = { audio: loadSpokenClasses({ split: 'train', source: clips }) };
    if (!options.needEvaluation) return { train, inputShape };
    return { train, heldOut: { audio: loadSpokenClasses({ split: 'test', source: clips }) }, inputShape };
  }
  if (source.kind === 'shards') return { ...openShards(source.path, options), ...(separate ? evaluationOf(separate) : {}), inputShape };
  if (source.kind === 'image-folder' && options.labelsPerClass === undefined && options.audio === undefined) {
    // Counted from the stream's index (cached after the first listing: 1.6 s for 200 000 files), not by decoding.
    const count = buildSampleIndex(source.path).keys.length;
    if (count >= (options.streamFolderMinImages ?? STREAM_FOLDER_MIN_IMAGES)) {
      return { ...openStream(source.path, options), ...(separate ? evaluationOf(separate) : {}), inputShape };
    }
  }
  if (source.kind === 'image-audio-folder') {
    // Without the method's clip format (ssl eval, an image method) the folder is its images, the WAVs unused.
    if (!source.clip) return loadRunData({ kind: 'image-folder', path: source.path }, options);
    return { ...(await loadImageAudioPairs(source.path, source.clip, options, separate)), inputShape };
  }
  if (source.kind === 'image-text-pairs') {
    const pairs = await loadImageTextPairs(source.path, {
      size: [options.geometry.size, options.geometry.size],
      channels: options.geometry.channels,
    });
    return { train: pairs, ...(separate ? evaluationOf(separate) : {}), inputShape };
  }
  const { train, test } = await loadLabeledImages(source, options);
  const evaluation = evaluationOf(separate ?? { train, ...(test ? { test } : {}) });
  if (options.labelsPerClass !== undefined) {
    if (!train.labels) {
      throw new SslError(
        'data',
        `Semi-supervised training needs labeled data; ${train.name} has no labels (use a folder with one sub-folder per class).`,
      );
    }
    return { train: labeledSplit(train, { perClass: options.labelsPerClass, seed: options.seed }), ...evaluation, inputShape };
  }
  if (options.audio !== undefined) {
    const audioSource = options.audio === 'spoken-classes-sample' ? 'sample' : resolve(options.audio);
    // The held-out pairs: test images with clips of voices the training split never hears.
    const heldOut = evaluation.evaluationTest && {
      images: evaluation.evaluationTest,
      audio: loadSpokenClasses({ split: 'test', source: audioSource }),
    };
    return {
      train: { images: train, audio: loadSpokenClasses({ split: 'train', source: audioSource }) },
      ...evaluation,
      ...(heldOut ? { heldOut } : {}),
      inputShape,
    };
  }
  return { train, ...evaluation, inputShape };
}

/** Fewest held-out pairs the held-out correspondence task is scored on (an image with its own clip vs another's). */
const MIN_HELD_OUT_PAIRS = 2;

/**
 * A folder of (image, WAV) pairs: trained on with the pair as the unit (`pairing: 'pair'`). When evaluating, a
 * FOLDER_TEST_FRACTION of the pairs (of each class, with class sub-folders) is held out by seed: their images are
 * what the encoder is scored on (with the folder's classes, unless --eval-data says otherwise) and the pairs
 * themselves the method's held-out correspondence task.
 */
async function loadImageAudioPairs(
  path: string,
  clip: { sampleRate: number; clipSamples: number },
  options: { geometry: ImageGeometry; seed: number; labelsPerClass?: number; needEvaluation: boolean; audio?: string },
  separate: { train: ImageDataset; test?: ImageDataset } | undefined,
): Promise<Omit<RunData, 'inputShape'>> {
  if (options.labelsPerClass !== undefined)
    throw new SslError('data', `--data ${path} holds (image, WAV) pairs, for image–audio methods, not semi-supervised ones.`);
  if (options.audio !== undefined) throw new SslError('data', `--data ${path} holds its own recordings beside its images; drop --audio.`);
  const pairs = await loadImageAudioFolder(path, {
    size: [options.geometry.size, options.geometry.size],
    channels: options.geometry.channels,
    ...clip,
  });
  const labeledEvaluation = (train: ImageDataset, test: ImageDataset | undefined) =>
    separate?.test?.labels && separate.train.labels
      ? { evaluationTrain: separate.train, evaluationTest: separate.test }
      : train.labels && test?.labels
        ? { evaluationTrain: train, evaluationTest: test }
        : {};
  if (!options.needEvaluation) return { train: pairs };
  const { train, test } = splitImageAudioPairs(pairs, { testFraction: FOLDER_TEST_FRACTION, seed: options.seed });
  return {
    train,
    ...labeledEvaluation(train.images, test.images.size > 0 ? test.images : undefined),
    ...(test.images.size >= MIN_HELD_OUT_PAIRS ? { heldOut: test } : {}),
  };
}

/**
 * WebDataset shards streamed through a pool of decode workers (core's ImageStream): the trainer reads each
 * step's images by id, so memory stays bounded whatever the number of images. Evaluation needs labeled images
 * in memory: it comes from --eval-data only.
 */
function openShards(path: string, options: { geometry: ImageGeometry; seed: number; labelsPerClass?: number; audio?: string }) {
  if (options.labelsPerClass !== undefined) {
    throw new SslError(
      'data',
      `--data ${path} holds shards, which are streamed; semi-supervised runs need their images in memory (pass an image folder).`,
    );
  }
  if (options.audio !== undefined)
    throw new SslError('data', `--audio pairs images in memory with clips by class; --data ${path} holds streamed shards.`);
  return openStream(path, options);
}

/** A folder or shards as an ImageStream; corrupt images are warned about (the first ten) and counted for the run's summary. */
function openStream(
  path: string,
  options: { geometry: ImageGeometry; seed: number },
): Pick<RunData, 'train' | 'close' | 'streamed' | 'corruptImages'> {
  const stream = ImageStream.open(path, {
    size: [options.geometry.size, options.geometry.size],
    channels: options.geometry.channels,
    seed: options.seed,
    onWarning: (message) => process.stderr.write(`ssl: warning: ${message}\n`),
  });
  const { pool } = stream;
  const kind = stream.index.kind === 'shards' ? `${stream.index.files.length} shards` : 'an image folder';
  return {
    train: stream,
    close: () => stream.close(),
    streamed:
      `streaming ${stream.size.toLocaleString('en-US')} images (${kind}): read and decoded by ` +
      `${pool.workers === 0 ? 'this thread' : `${pool.workers} worker thread${pool.workers === 1 ? '' : 's'}`} (${pool.decoder}) as the steps need them`,
    corruptImages: () => (stream.corrupt.count > 0 ? describeCorruptImages(stream.corrupt, stream.size) : undefined),
  };
}

/** The run's summary of images that did not decode: their number and the first few, one line. */
export function describeCorruptImages(report: StreamCorruptReport, total: number, shown = 5): string {
  const first = report.samples.slice(0, shown).map((sample) => `${sample.key} (${sample.message})`);
  const more = report.count - first.length;
  return (
    `${report.count.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} images could not be decoded and were skipped ` +
    `(each replaced by the next image of the set): ${first.join(', ')}${more > 0 ? `, and ${more.toLocaleString('en-US')} more` : ''}`
  );
}

function isEmoji(source: Extract<DataSource, { kind: 'named' }>): boolean {
  return source.name === 'emoji' || source.name === 'emoji-sample';
}

/** The train or test split of a built-in dataset (the emoji set at the run's image size and channels). */
function loadNamed(
  source: Extract<DataSource, { kind: 'named' }>,
  split: 'train' | 'test',
  geometry: ImageGeometry,
): Promise<ImageDataset> {
  if (isEmoji(source)) {
    return loadEmoji({
      split,
      source: source.name === 'emoji-sample' ? 'sample' : 'full',
      size: geometry.size,
      channels: geometry.channels,
    });
  }
  const load = source.name === 'mnist' ? loadMnist : loadFashionMnist;
  return load({ split, source: source.name === 'fashion-mnist-sample' ? 'sample' : 'auto' });
}

/** A built-in dataset's train and test splits, or an image folder (a labeled one split 80/20 by seed when evaluating). */
async function loadLabeledImages(
  source: LabeledDataSource,
  options: { geometry: ImageGeometry; seed: number; needEvaluation: boolean },
): Promise<{ train: ImageDataset; test?: ImageDataset }> {
  const { geometry } = options;
  if (source.kind === 'named') {
    const train = await loadNamed(source, 'train', geometry);
    return options.needEvaluation ? { train, test: await loadNamed(source, 'test', geometry) } : { train };
  }
  const folder = await loadImageFolder(source.path, { size: [geometry.size, geometry.size], channels: geometry.channels });
  if (folder.labels && options.needEvaluation) return trainTestSplit(folder, { testFraction: FOLDER_TEST_FRACTION, seed: options.seed });
  return { train: folder };
}
