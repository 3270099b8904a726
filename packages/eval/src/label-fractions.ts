import { Random, SslError } from '@ssl/core';
import { countClasses, featureCount, selectRows } from './feature-set';
import { knnClassify } from './knn';
import type { KnnClassifyOptions } from './knn';
import { linearProbe } from './linear-probe';
import type { LinearProbeOptions } from './linear-probe';
import { summarize } from './statistics';
import type { Summary } from './statistics';
import type { FeatureSet } from './types';

export interface LabelFractionOptions {
  /** Shares of each class's train rows that keep their label, e.g. [0.01, 0.1] (the SimCLR / BYOL semi-supervised protocol). */
  fractions?: readonly number[];
  /** Labeled rows per class, e.g. [1, 10, 100]. */
  perClass?: readonly number[];
  /** One class-balanced subset per seed; results are averaged over seeds. */
  seeds: readonly number[];
  method: 'linear' | 'knn';
  linear?: LinearProbeOptions;
  /** kNN options; k is capped at the number of labeled rows. */
  knn?: KnnClassifyOptions;
}

export interface LabelFractionRow {
  /** The requested share, or undefined for a per-class row. */
  fraction?: number;
  perClass?: number;
  /** Labeled rows actually used (same for every seed). */
  labeled: number;
  method: 'linear' | 'knn';
  top1: Summary;
  top5?: Summary;
}

/**
 * Accuracy when only a few train labels are kept: for every fraction (or count per class) and seed, a
 * class-balanced labeled subset is drawn (each class keeps round(fraction * its size) rows, at least one),
 * the frozen-feature classifier is fitted on it and scored on the full test set. Rows report mean ± std over
 * seeds.
 */
export async function labelFractionEval(train: FeatureSet, test: FeatureSet, options: LabelFractionOptions): Promise<LabelFractionRow[]> {
  featureCount(train, 'train');
  featureCount(test, 'test');
  countClasses(train.labels, 'train.labels');
  if (options.seeds.length === 0)
    throw new SslError('invalid-config', 'labelFractionEval seeds is empty: pass at least one seed, e.g. [0, 1, 2].');
  if (options.method !== 'linear' && options.method !== 'knn') {
    throw new SslError('invalid-config', `labelFractionEval method must be 'linear' or 'knn', got ${String(options.method)}.`);
  }
  const fractions = options.fractions ?? [];
  const perClass = options.perClass ?? [];
  if (fractions.length === 0 && perClass.length === 0) {
    throw new SslError('invalid-config', 'labelFractionEval needs fractions (e.g. [0.01, 0.1]) or perClass (e.g. [1, 10]).');
  }
  for (const fraction of fractions) {
    if (!(fraction > 0 && fraction <= 1))
      throw new SslError('invalid-config', `labelFractionEval fraction must be in (0, 1], got ${fraction}.`);
  }
  for (const n of perClass) {
    if (!Number.isInteger(n) || n <= 0)
      throw new SslError('invalid-config', `labelFractionEval perClass must be positive integers, got ${n}.`);
  }
  const rowsByClass = new Map<number, number[]>();
  train.labels.forEach((label, row) => {
    if (!rowsByClass.has(label)) rowsByClass.set(label, []);
    rowsByClass.get(label)?.push(row);
  });
  const classes = [...rowsByClass.keys()].sort((a, b) => a - b);

  const settings = [
    ...fractions.map((fraction) => ({ fraction, take: (size: number) => Math.max(1, Math.round(fraction * size)) })),
    ...perClass.map((n) => ({ perClass: n, take: (size: number) => Math.min(n, size) })),
  ];
  const rows: LabelFractionRow[] = [];
  for (const setting of settings) {
    const top1: number[] = [];
    const top5: number[] = [];
    let labeled = 0;
    for (const seed of options.seeds) {
      const random = new Random(seed);
      const subset: number[] = [];
      for (const cls of classes) {
        const members = rowsByClass.get(cls) as number[];
        const order = random.permutation(members.length);
        const take = setting.take(members.length);
        for (let i = 0; i < take; i++) subset.push(members[order[i]]);
      }
      labeled = subset.length;
      const labeledTrain = selectRows(train, subset);
      const accuracy =
        options.method === 'linear'
          ? await linearProbe(labeledTrain, test, options.linear)
          : await knnClassify(labeledTrain, test, { ...options.knn, k: Math.min(options.knn?.k ?? 200, labeled) });
      top1.push(accuracy.top1);
      if (accuracy.top5 !== undefined) top5.push(accuracy.top5);
    }
    rows.push({
      ...('fraction' in setting ? { fraction: setting.fraction } : { perClass: setting.perClass }),
      labeled,
      method: options.method,
      top1: summarize(top1),
      ...(top5.length > 0 ? { top5: summarize(top5) } : {}),
    });
  }
  return rows;
}
