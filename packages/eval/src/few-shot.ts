import { Random, SslError } from '@ssl/core';
import { featureCount, selectRows } from './feature-set';
import { normalizeRows } from './kmeans';
import { argmaxRows } from './linear-probe';
import { classifierScores, fitLogisticRegression } from './logistic-regression';
import { summarize } from './statistics';
import type { Summary } from './statistics';
import type { FeatureSet } from './types';

export type FewShotClassifier = 'prototype' | 'logistic';

export interface FewShotOptions {
  /** Classes per episode (N). Default 5. */
  ways?: number;
  /** Labeled support examples per class (K). Default 1. */
  shots?: number;
  /** Query examples per class. Default 15. */
  queries?: number;
  /** Episodes (default 600, the usual protocol). */
  episodes?: number;
  /** 'prototype': cosine to the class mean of normalized support features; 'logistic': L2-regularized logistic regression. */
  classifier?: FewShotClassifier;
  /** Classes episodes draw from (default: every class with enough examples), e.g. held-out novel classes. */
  classes?: readonly number[];
  seed?: number;
  /** L2 penalty of the logistic classifier (default 1e-3). */
  weightDecay?: number;
}

export interface FewShotResult extends Summary {
  ways: number;
  shots: number;
  classifier: FewShotClassifier;
  /** Accuracy of every episode. */
  accuracies: number[];
}

/**
 * N-way K-shot episodes on frozen features: each episode samples N classes, K support and `queries` query
 * rows per class, fits a classifier on the support set and scores the queries. Reports mean accuracy with a
 * 95% confidence interval. The prototype classifier is the cosine variant of Prototypical Networks
 * (Snell et al. 2017), as used by Chen et al. 2019 (Baseline++) and SimpleShot (Wang et al. 2019).
 */
export async function fewShotEval(set: FeatureSet, options: FewShotOptions = {}): Promise<FewShotResult> {
  featureCount(set);
  const ways = options.ways ?? 5;
  const shots = options.shots ?? 1;
  const queries = options.queries ?? 15;
  const episodes = options.episodes ?? 600;
  const classifier = options.classifier ?? 'prototype';
  for (const [name, value] of [
    ['ways', ways],
    ['shots', shots],
    ['queries', queries],
    ['episodes', episodes],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0)
      throw new SslError('invalid-config', `fewShotEval ${name} must be a positive integer, got ${value}.`);
  }
  if (ways < 2) throw new SslError('invalid-config', `fewShotEval ways must be at least 2, got ${ways}.`);
  if (classifier !== 'prototype' && classifier !== 'logistic') {
    throw new SslError('invalid-config', `fewShotEval classifier must be 'prototype' or 'logistic', got ${String(classifier)}.`);
  }
  const rowsByClass = new Map<number, number[]>();
  set.labels.forEach((label, row) => {
    if (!rowsByClass.has(label)) rowsByClass.set(label, []);
    rowsByClass.get(label)?.push(row);
  });
  const requested = options.classes ?? [...rowsByClass.keys()].sort((a, b) => a - b);
  const eligible = requested.filter((c) => (rowsByClass.get(c)?.length ?? 0) >= shots + queries);
  if (eligible.length < ways) {
    throw new SslError(
      'data',
      `fewShotEval ${ways}-way ${shots}-shot with ${queries} queries needs ${ways} classes with at least ${shots + queries} rows each; only ${eligible.length} qualify. Lower ways, shots or queries.`,
    );
  }
  const random = new Random(options.seed ?? 0);
  const normalized = normalizeRows(set.features, set.dim);
  const dim = set.dim;
  const accuracies: number[] = [];
  for (let episode = 0; episode < episodes; episode++) {
    const episodeClasses = random.shuffle([...eligible]).slice(0, ways);
    const support: number[] = [];
    const supportLabels: number[] = [];
    const query: number[] = [];
    const queryLabels: number[] = [];
    episodeClasses.forEach((cls, way) => {
      const rows = rowsByClass.get(cls) as number[];
      const picked = random.shuffle([...rows]).slice(0, shots + queries);
      picked.forEach((row, i) => {
        if (i < shots) {
          support.push(row);
          supportLabels.push(way);
        } else {
          query.push(row);
          queryLabels.push(way);
        }
      });
    });
    const normalizedSet = { features: normalized, dim, labels: set.labels };
    const supportSet = { ...selectRows(normalizedSet, support), labels: Int32Array.from(supportLabels) };
    const querySet = { ...selectRows(normalizedSet, query), labels: Int32Array.from(queryLabels) };
    const predicted =
      classifier === 'prototype'
        ? prototypePredict(supportSet, querySet.features, ways)
        : argmaxRows(
            await classifierScores(
              (
                await fitLogisticRegression(supportSet, {
                  numClasses: ways,
                  weightDecay: options.weightDecay ?? 1e-3,
                  standardize: false,
                  maxIterations: 100,
                })
              ).classifier,
              querySet.features,
            ),
            ways,
          );
    let correct = 0;
    for (let i = 0; i < predicted.length; i++) if (predicted[i] === queryLabels[i]) correct++;
    accuracies.push(correct / predicted.length);
  }
  return { ...summarize(accuracies), ways, shots, classifier, accuracies };
}

/** Nearest prototype by cosine: prototypes are the means of the (normalized) support rows of each class. */
export function prototypePredict(support: FeatureSet, queryFeatures: Float32Array, numClasses: number): Int32Array {
  const dim = support.dim;
  const prototypes = new Float32Array(numClasses * dim);
  for (let row = 0; row < support.labels.length; row++) {
    const offset = support.labels[row] * dim;
    for (let d = 0; d < dim; d++) prototypes[offset + d] += support.features[row * dim + d];
  }
  // Normalizing the prototypes makes the dot product a cosine; the per-class count cancels.
  const unitPrototypes = normalizeRows(prototypes, dim);
  const unitQueries = normalizeRows(queryFeatures, dim);
  const count = queryFeatures.length / dim;
  const predicted = new Int32Array(count);
  for (let row = 0; row < count; row++) {
    let best = 0;
    let bestSimilarity = -Infinity;
    for (let c = 0; c < numClasses; c++) {
      let similarity = 0;
      for (let d = 0; d < dim; d++) similarity += unitQueries[row * dim + d] * unitPrototypes[c * dim + d];
      if (similarity > bestSimilarity) {
        bestSimilarity = similarity;
        best = c;
      }
    }
    predicted[row] = best;
  }
  return predicted;
}
