import { SslError } from '@ssl/core';
import { extractFeatures } from './extract-features';
import type { ExtractFeaturesOptions } from './extract-features';
import { knnClassify } from './knn';
import type { KnnClassifyOptions } from './knn';
import { labelFractionEval } from './label-fractions';
import { linearProbe } from './linear-probe';
import type { LinearProbeOptions } from './linear-probe';
import type { FeatureEncoder, FeatureSet, LabeledImageDataset } from './types';

/** One representation to compare: an encoder run over the train and test images, or features extracted already. */
export type ComparisonCandidate =
  | { name: string; encoder: FeatureEncoder }
  /** E.g. several poolings of one forward pass, extracted once by the caller. */
  | { name: string; features: { train: FeatureSet; test: FeatureSet } };

export interface FewLabelsOptions {
  /** Labeled train images kept per class (default 10). */
  perClass?: number;
  /** One class-balanced labeled subset per seed; the row reports mean ± std over them. */
  seeds: readonly number[];
  /** Classifiers fitted on each subset (default ['linear']). */
  methods?: readonly ('knn' | 'linear')[];
  /** kNN options on the subsets (default: the all-labels `knn` options; k is capped at the labeled count). */
  knn?: KnnClassifyOptions;
  /** Linear probe options on the subsets (default: the all-labels `linear` options). */
  linear?: LinearProbeOptions;
}

export interface CompareRepresentationsOptions {
  /** Evaluated in this order, one at a time, so that only one candidate's features are held at once. */
  candidates: readonly ComparisonCandidate[];
  /** Labeled train images: the kNN bank and the probes' training set. Unused by candidates with `features`. */
  train: LabeledImageDataset;
  /** Labeled test images every score is measured on. Unused by candidates with `features`. */
  test: LabeledImageDataset;
  /** Feature extraction of encoder candidates (batch size, first `limit` images). */
  extract?: Pick<ExtractFeaturesOptions, 'batchSize' | 'limit'>;
  /** All-labels kNN (default `knnClassify`'s: k = 200, or the train size if smaller, exp(cos/0.07)-weighted votes, Wu et al. 2018). */
  knn?: KnnClassifyOptions;
  /** All-labels linear probe (default: `linearProbe`'s defaults). */
  linear?: LinearProbeOptions;
  /** Also score each candidate with only a few labels per class (off by default). */
  fewLabels?: FewLabelsOptions;
  /** Called after each candidate with its row and the seconds it took (extraction included), e.g. to log progress. */
  onRow?: (row: ComparisonRow, seconds: number) => void;
}

export interface MeanStd {
  mean: number;
  std: number;
}

/** Top-1 accuracies of one candidate, as fractions in [0, 1]. */
export interface ComparisonRow {
  name: string;
  featureDim: number;
  /** kNN top-1 with every train label. */
  knn: number;
  /** Linear probe top-1 with every train label. */
  linear: number;
  /** Present when `fewLabels` was given; `knn` / `linear` when that method was asked for. */
  fewLabels?: { perClass: number; seeds: number; knn?: MeanStd; linear?: MeanStd };
}

/**
 * The frozen-feature comparison behind "is the pre-trained encoder any better?": every candidate (typically
 * the trained encoder, the same encoder at its random init, and raw pixels via `flattenEncoder()`) gets the
 * same kNN, linear probe and optional few-labels-per-class probes on the same train/test split.
 * Encoders are only read (inference mode); the caller keeps ownership and disposes them.
 */
export async function compareRepresentations(options: CompareRepresentationsOptions): Promise<ComparisonRow[]> {
  if (options.candidates.length === 0) {
    throw new SslError(
      'invalid-config',
      'compareRepresentations needs at least one candidate, e.g. { name: "raw pixels", encoder: flattenEncoder() }.',
    );
  }
  const knnOptions = options.knn ?? {};
  const linearOptions = options.linear ?? {};
  const few = options.fewLabels;
  const fewMethods = few?.methods ?? ['linear'];
  if (few && few.seeds.length === 0) {
    throw new SslError('invalid-config', 'compareRepresentations fewLabels.seeds is empty: pass at least one seed, e.g. [0, 1, 2, 3, 4].');
  }
  const rows: ComparisonRow[] = [];
  for (const candidate of options.candidates) {
    const started = performance.now();
    const { train, test } =
      'encoder' in candidate
        ? {
            train: await extractFeatures(candidate.encoder, options.train, options.extract),
            test: await extractFeatures(candidate.encoder, options.test, options.extract),
          }
        : candidate.features;
    const row: ComparisonRow = {
      name: candidate.name,
      featureDim: train.dim,
      knn: (await knnClassify(train, test, knnOptions)).top1,
      linear: (await linearProbe(train, test, linearOptions)).top1,
    };
    if (few) {
      const perClass = few.perClass ?? 10;
      row.fewLabels = { perClass, seeds: few.seeds.length };
      for (const method of fewMethods) {
        const [result] = await labelFractionEval(train, test, {
          perClass: [perClass],
          seeds: few.seeds,
          method,
          ...(method === 'knn' ? { knn: few.knn ?? knnOptions } : { linear: few.linear ?? linearOptions }),
        });
        row.fewLabels[method] = { mean: result.top1.mean, std: result.top1.std };
      }
    }
    rows.push(row);
    options.onRow?.(row, (performance.now() - started) / 1000);
  }
  return rows;
}

export interface ComparisonTableOptions<Row extends ComparisonRow> {
  /** Header overrides; the defaults name the protocol ("kNN, all labels", "Linear, 10 labels/class (5 seeds)"). */
  headers?: { name?: string; knn?: string; linear?: string; fewKnn?: string; fewLinear?: string };
  /** Columns appended after the scores, e.g. a pretext-task accuracy only some rows have. */
  extraColumns?: readonly { header: string; cell: (row: Row) => string }[];
}

/** Percent with one decimal (`84.3`), as the tables of the examples and READMEs print accuracies. */
function formatPercent(value: number): string {
  return (100 * value).toFixed(1);
}

/**
 * A markdown table of `compareRepresentations` rows: name, kNN and linear with all labels, then the
 * few-labels columns when the rows have them (mean ± std over seeds), in percent.
 */
export function formatComparisonTable<Row extends ComparisonRow>(rows: readonly Row[], options: ComparisonTableOptions<Row> = {}): string {
  const headers = options.headers ?? {};
  const few = rows.find((row) => row.fewLabels)?.fewLabels;
  const fewSuffix = few ? `${few.perClass} labels/class (${few.seeds} seeds)` : '';
  const meanStd = (value: MeanStd | undefined) => (value ? `${formatPercent(value.mean)} ± ${formatPercent(value.std)}` : '—');
  const columns: { header: string; cell: (row: Row) => string }[] = [
    { header: headers.name ?? 'Representation', cell: (row) => row.name },
    { header: headers.knn ?? 'kNN, all labels', cell: (row) => formatPercent(row.knn) },
    { header: headers.linear ?? 'Linear, all labels', cell: (row) => formatPercent(row.linear) },
  ];
  if (rows.some((row) => row.fewLabels?.knn)) {
    columns.push({ header: headers.fewKnn ?? `kNN, ${fewSuffix}`, cell: (row) => meanStd(row.fewLabels?.knn) });
  }
  if (rows.some((row) => row.fewLabels?.linear)) {
    columns.push({ header: headers.fewLinear ?? `Linear, ${fewSuffix}`, cell: (row) => meanStd(row.fewLabels?.linear) });
  }
  columns.push(...(options.extraColumns ?? []));
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    line(columns.map((column) => column.header)),
    `|${columns.map(() => '---').join('|')}|`,
    ...rows.map((row) => line(columns.map((column) => column.cell(row)))),
  ].join('\n');
}
