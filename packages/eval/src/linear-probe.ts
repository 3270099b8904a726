import { Random, SslError } from '@ssl/core';
import { accuracyOf, assertSameDim, countClasses, featureCount, selectRows } from './feature-set';
import { topKAccuracy } from './knn';
import { classifierScores, fitLogisticRegression } from './logistic-regression';
import type { LinearClassifier } from './logistic-regression';
import type { Accuracy, FeatureSet } from './types';

export interface LinearProbeOptions {
  /**
   * L2 penalty on the weights (mean cross-entropy + lambda/2 ||W||^2). A list picks the value with the best
   * top-1 on a held-out part of the train features, then refits on all of them. Default 1e-4.
   */
  weightDecay?: number | readonly number[];
  /** Share of the train rows held out to choose the weight decay (default 0.1). */
  validationFraction?: number;
  /** L-BFGS iterations at most per fit (default 500). */
  maxIterations?: number;
  /** Seed of the validation split (default 0). */
  seed?: number;
}

export interface LinearProbeResult extends Accuracy {
  iterations: number;
  trainLoss: number;
  converged: boolean;
  weightDecay: number;
  /** Validation top-1 for each candidate weight decay, when a list was given. */
  validation?: { weightDecay: number; top1: number }[];
  classifier: LinearClassifier;
}

/**
 * Linear evaluation of frozen features: multinomial logistic regression on per-feature standardized
 * features (statistics from the train rows only), L2-regularized, fitted to convergence by L-BFGS.
 * The encoder is never touched — freezing is structural, the probe only sees features extracted once.
 */
export async function linearProbe(train: FeatureSet, test: FeatureSet, options: LinearProbeOptions = {}): Promise<LinearProbeResult> {
  const trainCount = featureCount(train, 'train');
  featureCount(test, 'test');
  assertSameDim(train, test);
  const numClasses = Math.max(countClasses(train.labels, 'train.labels'), countClasses(test.labels, 'test.labels'));
  const candidates =
    typeof options.weightDecay === 'number' || options.weightDecay === undefined ? [options.weightDecay ?? 1e-4] : [...options.weightDecay];
  if (candidates.length === 0) throw new SslError('invalid-config', 'linearProbe weightDecay list is empty: pass at least one value.');
  const maxIterations = options.maxIterations;
  let weightDecay = candidates[0];
  let validation: { weightDecay: number; top1: number }[] | undefined;
  if (candidates.length > 1) {
    const fraction = options.validationFraction ?? 0.1;
    if (!(fraction > 0 && fraction < 1))
      throw new SslError('invalid-config', `linearProbe validationFraction must be in (0, 1), got ${fraction}.`);
    const order = new Random(options.seed ?? 0).permutation(trainCount);
    const heldOut = Math.max(1, Math.round(trainCount * fraction));
    const fitPart = selectRows(train, order.subarray(heldOut));
    const validationPart = selectRows(train, order.subarray(0, heldOut));
    validation = [];
    for (const candidate of candidates) {
      const fit = await fitLogisticRegression(fitPart, { weightDecay: candidate, numClasses, maxIterations });
      const predicted = argmaxRows(await classifierScores(fit.classifier, validationPart.features), numClasses);
      validation.push({ weightDecay: candidate, top1: accuracyOf(predicted, validationPart.labels) });
    }
    // Ties go to the stronger penalty, the more conservative choice.
    const best = validation.reduce((a, b) => (b.top1 > a.top1 || (b.top1 === a.top1 && b.weightDecay > a.weightDecay) ? b : a));
    weightDecay = best.weightDecay;
  }
  const fit = await fitLogisticRegression(train, { weightDecay, numClasses, maxIterations });
  const scores = await classifierScores(fit.classifier, test.features);
  return {
    ...topKAccuracy(scores, test.labels, numClasses),
    iterations: fit.iterations,
    trainLoss: fit.trainLoss,
    converged: fit.converged,
    weightDecay,
    ...(validation ? { validation } : {}),
    classifier: fit.classifier,
  };
}

/** Index of the largest score per row of a [count, numClasses] array (ties to the lower index). */
export function argmaxRows(scores: Float32Array, numClasses: number): Int32Array {
  const count = scores.length / numClasses;
  const predicted = new Int32Array(count);
  for (let row = 0; row < count; row++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (scores[row * numClasses + c] > scores[row * numClasses + best]) best = c;
    predicted[row] = best;
  }
  return predicted;
}
