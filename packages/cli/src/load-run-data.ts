import {
  SslError,
  labeledSplit,
  loadFashionMnist,
  loadImageFolder,
  loadImageTextPairs,
  loadMnist,
  trainTestSplit,
  type ImageDataset,
  type ImageShape,
  type TrainData,
} from '@ssl/core';
import type { DataSource } from './options';

/** Size images from folders and .jsonl pairs are resized to; the built-in datasets are 28×28×1. */
export interface ImageGeometry {
  size: number;
  channels: 1 | 3;
}

export const DEFAULT_IMAGE_GEOMETRY: ImageGeometry = { size: 32, channels: 3 };

/** Share of a labeled image folder held out for evaluation when it has no test split of its own. */
const FOLDER_TEST_FRACTION = 0.2;

export interface RunData {
  /** What the trainer consumes. */
  train: TrainData;
  /** Labeled images the evaluation fits kNN and probes on (the training images with their labels). */
  evaluationTrain?: ImageDataset;
  /** Held-out labeled images the evaluation scores on. */
  evaluationTest?: ImageDataset;
  inputShape: ImageShape;
}

/** The input shape a data source will have, known before loading so the encoder can be checked early. */
export function inputShapeOf(source: DataSource, geometry: ImageGeometry): ImageShape {
  return source.kind === 'named' ? [28, 28, 1] : [geometry.size, geometry.size, geometry.channels];
}

/**
 * Loads training data and the labeled train/test pair used to evaluate the encoder afterwards. For
 * semi-supervised runs, `labelsPerClass` labels are kept per class and the rest of the training set is
 * unlabeled; evaluation still uses every label of the training split (it measures the representation).
 */
export async function loadRunData(
  source: DataSource,
  options: { geometry: ImageGeometry; seed: number; labelsPerClass?: number; needEvaluation: boolean },
): Promise<RunData> {
  const { geometry, seed } = options;
  const inputShape = inputShapeOf(source, geometry);
  let train: ImageDataset;
  let test: ImageDataset | undefined;
  switch (source.kind) {
    case 'named': {
      const load = source.name === 'mnist' ? loadMnist : loadFashionMnist;
      const origin = source.name === 'fashion-mnist-sample' ? 'sample' : 'auto';
      train = await load({ split: 'train', source: origin });
      test = options.needEvaluation ? await load({ split: 'test', source: origin }) : undefined;
      break;
    }
    case 'image-folder': {
      const folder = await loadImageFolder(source.path, { size: [geometry.size, geometry.size], channels: geometry.channels });
      if (folder.labels && options.needEvaluation) {
        ({ train, test } = trainTestSplit(folder, { testFraction: FOLDER_TEST_FRACTION, seed }));
      } else {
        train = folder;
      }
      break;
    }
    case 'image-text-pairs': {
      const pairs = await loadImageTextPairs(source.path, { size: [geometry.size, geometry.size], channels: geometry.channels });
      return { train: pairs, ...(pairs.labels ? { evaluationTrain: pairs } : {}), inputShape };
    }
  }
  const evaluation = train.labels && test?.labels ? { evaluationTrain: train, evaluationTest: test } : {};
  if (options.labelsPerClass !== undefined) {
    if (!train.labels) {
      throw new SslError(
        'data',
        `Semi-supervised training needs labeled data; ${train.name} has no labels (use a folder with one sub-folder per class).`,
      );
    }
    return { train: labeledSplit(train, { perClass: options.labelsPerClass, seed }), ...evaluation, inputShape };
  }
  return { train, ...evaluation, inputShape };
}
