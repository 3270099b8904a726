import { SslError } from '@ssl/core';
import { compareRepresentations, formatComparisonTable } from './compare-representations';
import type { ComparisonRow } from './compare-representations';
import { fineTune } from './fine-tune';
import type { FineTuneOptions, LayerBlockRate, TrainableEncoder } from './fine-tune';
import { EVALUATION_PROTOCOL } from './pretrain-and-compare';
import type { Accuracy, LabeledImageDataset } from './types';

/**
 * Transfer to another domain (lecture 003's feature and parameter transfer; lecture 002's domain shift): an
 * encoder trained on one dataset is scored on another, frozen (kNN, linear probe, few labels: the protocol of
 * `ssl pretrain`) and fine-tuned end to end on the target's labels, with or without layer-wise decay.
 */

/** An encoder to transfer. `load` returns a fresh copy each call: fine-tuning changes the weights it is given. */
export interface TransferCandidate {
  readonly name: string;
  load(): TrainableEncoder | Promise<TrainableEncoder>;
  /** Frees a copy `load` returned (default: `encoder.model.dispose()`). */
  dispose?(encoder: TrainableEncoder): void;
}

/** One fine-tuning recipe, reported as its own column. */
export interface TransferFineTune {
  /** Column name, e.g. 'fine-tune' or 'fine-tune, layer decay 0.65'. */
  readonly name: string;
  readonly options: Omit<FineTuneOptions, 'onEpochEnd' | 'head'>;
}

export interface TransferEvalOptions {
  /** Evaluated one at a time, in order: typically the source-domain encoders, the same spec at random init, and an encoder trained on the target. */
  readonly candidates: readonly TransferCandidate[];
  /** Labeled target-domain images as the encoders see them (same size and channels as their input). */
  readonly train: LabeledImageDataset;
  readonly test: LabeledImageDataset;
  /** Fine-tuning recipes; none: frozen figures only. */
  readonly fineTune?: readonly TransferFineTune[];
  /** Seed of the few-labels subsets (seed … seed + 4) and default seed of fine-tuning. Default 0. */
  readonly seed?: number;
  /** Called after each candidate, e.g. to print or save partial results. */
  onRow?(row: TransferRow): void | Promise<void>;
}

export interface TransferFineTuned {
  readonly name: string;
  readonly test: Accuracy;
  /** Training accuracy and loss of the last epoch. */
  readonly trainAccuracy: number;
  readonly trainLoss: number;
  readonly learningRates: LayerBlockRate[];
  readonly seconds: number;
}

export interface TransferRow extends ComparisonRow {
  readonly fineTuned: TransferFineTuned[];
}

/**
 * Scores every candidate on the target domain: kNN (k = 200), linear probe on all labels and on 10 labels per
 * class over 5 subsets (`EVALUATION_PROTOCOL`), then each fine-tuning recipe on a fresh copy, scored on `test`.
 */
export async function transferEval(options: TransferEvalOptions): Promise<TransferRow[]> {
  const { candidates, train, test } = options;
  if (candidates.length === 0) throw new SslError('invalid-config', 'transferEval needs at least one candidate encoder.');
  if (!train.labels || !test.labels) throw new SslError('data', 'transferEval needs labeled train and test images of the target domain.');
  const seed = options.seed ?? 0;
  const rows: TransferRow[] = [];
  for (const candidate of candidates) {
    const free = (encoder: TrainableEncoder) => (candidate.dispose ? candidate.dispose(encoder) : encoder.model.dispose());
    const frozen = await candidate.load();
    let comparison: ComparisonRow;
    try {
      [comparison] = await compareRepresentations({
        candidates: [{ name: candidate.name, encoder: frozen }],
        train,
        test,
        knn: { ...EVALUATION_PROTOCOL.knn, k: Math.min(EVALUATION_PROTOCOL.knn.k, train.size) },
        linear: { ...EVALUATION_PROTOCOL.linear },
        fewLabels: {
          perClass: EVALUATION_PROTOCOL.fewLabels.perClass,
          seeds: Array.from({ length: EVALUATION_PROTOCOL.fewLabels.subsets }, (_, i) => seed + i),
          linear: { weightDecay: EVALUATION_PROTOCOL.fewLabels.weightDecay },
        },
      });
    } finally {
      free(frozen);
    }
    const fineTuned: TransferFineTuned[] = [];
    for (const recipe of options.fineTune ?? []) {
      const encoder = await candidate.load();
      const started = performance.now();
      try {
        const result = await fineTune(encoder, train, { seed, ...recipe.options });
        try {
          const last = result.history[result.history.length - 1];
          fineTuned.push({
            name: recipe.name,
            test: await result.evaluate(test),
            trainAccuracy: last.trainAccuracy,
            trainLoss: last.loss,
            learningRates: result.learningRates,
            seconds: (performance.now() - started) / 1000,
          });
        } finally {
          result.dispose();
        }
      } finally {
        free(encoder);
      }
    }
    const row: TransferRow = { ...comparison, fineTuned };
    rows.push(row);
    await options.onRow?.(row);
  }
  return rows;
}

/** The rows as a markdown table: the frozen figures, then one top-1 column per fine-tuning recipe (percent). */
export function formatTransferTable(rows: readonly TransferRow[]): string {
  const recipes = [...new Set(rows.flatMap((row) => row.fineTuned.map((f) => f.name)))];
  return formatComparisonTable(rows, {
    headers: { name: 'encoder' },
    extraColumns: recipes.map((recipe) => ({
      header: recipe,
      cell: (row: TransferRow) => {
        const result = row.fineTuned.find((f) => f.name === recipe);
        return result ? (100 * result.test.top1).toFixed(1) : '—';
      },
    })),
  });
}
