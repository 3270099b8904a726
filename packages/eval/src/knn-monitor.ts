import { Random, SslError } from '@ssl/core';
import { collapseDiagnostics } from './collapse';
import { extractFeatures } from './extract-features';
import { knnClassify } from './knn';
import type { KnnWeighting } from './knn';
import type { FeatureEncoder, LabeledImageDataset } from './types';

/** What the trainer hands a callback at the end of an epoch (structurally `EpochContext` of `@ssl/core`). */
export interface MonitorEpochContext {
  /** 0-based epoch that just ended. */
  readonly epoch: number;
  readonly encoder: FeatureEncoder;
  log(metrics: Record<string, number>): void;
}

export interface KnnMonitorOptions {
  /** Labeled images that vote (the memory bank). */
  train: LabeledImageDataset;
  test: LabeledImageDataset;
  /** Run after every `every` epochs: when (epoch + 1) % every === 0. Default 1. */
  every?: number;
  /** Default 200 (Wu et al. 2018), capped at the train rows used. */
  k?: number;
  temperature?: number;
  weighting?: KnnWeighting;
  /** Use a fixed seeded random subset of at most this many train / test images (default: all). */
  maxTrain?: number;
  maxTest?: number;
  batchSize?: number;
  seed?: number;
  /** Also log RankMe effective rank and per-dimension std of the test features (default true). */
  collapse?: boolean;
}

export interface KnnMonitor {
  readonly name: 'knn-monitor';
  onEpochEnd(context: MonitorEpochContext): Promise<void>;
}

/**
 * Online kNN accuracy during self-supervised training (the monitor of InstDisc, Wu et al. 2018, and
 * solo-learn): at the end of selected epochs, features of a fixed labeled subset are extracted in inference
 * mode and the test subset is classified by weighted cosine kNN. Logs `knn_top1` (and `knn_top5` for more
 * than 5 classes), plus `rankme` and `per_dim_std` when `collapse` is on. Features are re-extracted every
 * time because the encoder changes between epochs; no cache is shared.
 */
export function knnMonitor(options: KnnMonitorOptions): KnnMonitor {
  const every = options.every ?? 1;
  if (!Number.isInteger(every) || every <= 0)
    throw new SslError('invalid-config', `knnMonitor every must be a positive integer (epochs), got ${every}.`);
  if (!options.train.labels || !options.test.labels) {
    throw new SslError('data', 'knnMonitor needs labeled train and test datasets: pass datasets with labels.');
  }
  const random = new Random(options.seed ?? 0);
  const train = subsetOf(options.train, options.maxTrain, random);
  const test = subsetOf(options.test, options.maxTest, random);
  return {
    name: 'knn-monitor',
    async onEpochEnd(context: MonitorEpochContext): Promise<void> {
      if ((context.epoch + 1) % every !== 0) return;
      const batchSize = options.batchSize ?? 256;
      const trainFeatures = await extractFeatures(context.encoder, train, { batchSize });
      const testFeatures = await extractFeatures(context.encoder, test, { batchSize });
      const accuracy = await knnClassify(trainFeatures, testFeatures, {
        k: Math.min(options.k ?? 200, train.size),
        temperature: options.temperature,
        weighting: options.weighting,
      });
      const metrics: Record<string, number> = { knn_top1: accuracy.top1 };
      if (accuracy.top5 !== undefined) metrics.knn_top5 = accuracy.top5;
      if (options.collapse ?? true) {
        const diagnostics = collapseDiagnostics(testFeatures);
        metrics.rankme = diagnostics.effectiveRank;
        metrics.per_dim_std = diagnostics.perDimStd;
      }
      context.log(metrics);
    },
  };
}

/** A fixed random subset of at most `limit` images (the whole dataset when no limit or it is larger). */
function subsetOf(dataset: LabeledImageDataset, limit: number | undefined, random: Random): LabeledImageDataset {
  if (limit === undefined || limit >= dataset.size) return dataset;
  if (!Number.isInteger(limit) || limit <= 0)
    throw new SslError('invalid-config', `knnMonitor maxTrain/maxTest must be positive integers, got ${limit}.`);
  const rows = random.permutation(dataset.size).slice(0, limit).sort();
  const [h, w, c] = dataset.shape;
  const pixels = h * w * c;
  const images = new Uint8Array(limit * pixels);
  const labels = new Int32Array(limit);
  rows.forEach((row, i) => {
    images.set(dataset.images.subarray(row * pixels, (row + 1) * pixels), i * pixels);
    labels[i] = (dataset.labels as Int32Array)[row];
  });
  return {
    images,
    shape: dataset.shape,
    labels,
    numClasses: dataset.numClasses,
    classNames: dataset.classNames,
    size: limit,
    name: `${dataset.name ?? 'dataset'} (subset ${limit})`,
  };
}
