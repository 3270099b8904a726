import * as tf from '@tensorflow/tfjs-core';
import { SslError } from '@ssl/core';
import { countClasses, featureCount } from './feature-set';
import { minimizeLbfgs } from './lbfgs';
import type { FeatureSet } from './types';

/** A fitted multinomial logistic regression on standardized features. */
export interface LinearClassifier {
  readonly dim: number;
  readonly numClasses: number;
  /** Per-feature mean and standard deviation of the training features (constant features get std 1). */
  readonly mean: Float32Array;
  readonly std: Float32Array;
  /** [dim, numClasses], row-major. */
  readonly weights: Float32Array;
  readonly bias: Float32Array;
}

export interface LogisticRegressionOptions {
  /** L2 penalty lambda/2 * ||W||^2 added to the mean cross-entropy; the bias is not penalized (default 1e-4). */
  weightDecay?: number;
  /** L-BFGS iterations at most (default 500). */
  maxIterations?: number;
  /** Classes (default: 1 + the largest train label). */
  numClasses?: number;
  /** Standardize each feature with the train mean and std before fitting (default true). */
  standardize?: boolean;
}

export interface LogisticRegressionFit {
  classifier: LinearClassifier;
  iterations: number;
  /** Final regularized mean cross-entropy on the training rows. */
  trainLoss: number;
  converged: boolean;
}

/**
 * Multinomial logistic regression trained to convergence with full-batch L-BFGS: the objective is convex,
 * so unlike SGD the result does not depend on a learning-rate schedule (the protocol of the linear
 * evaluation in e.g. Kolesnikov et al. 2019 and CLIP's L-BFGS probe, Radford et al. 2021).
 * Value and gradient are computed on the tfjs backend: grad_W = X^T (softmax(XW + b) - Y) / N + lambda W.
 */
export async function fitLogisticRegression(train: FeatureSet, options: LogisticRegressionOptions = {}): Promise<LogisticRegressionFit> {
  const count = featureCount(train, 'train');
  if (count === 0) throw new SslError('data', 'fitLogisticRegression needs at least one training row.');
  const numClasses = options.numClasses ?? countClasses(train.labels, 'train.labels');
  const weightDecay = options.weightDecay ?? 1e-4;
  if (!(weightDecay >= 0) || !Number.isFinite(weightDecay)) {
    throw new SslError('invalid-config', `Logistic regression weightDecay must be a finite number >= 0, got ${weightDecay}.`);
  }
  if (numClasses < 2) throw new SslError('data', `Logistic regression needs at least 2 classes, got ${numClasses}.`);
  for (let i = 0; i < count; i++) {
    if (train.labels[i] >= numClasses) {
      throw new SslError('data', `train.labels[${i}] = ${train.labels[i]} is not below numClasses = ${numClasses}.`);
    }
  }
  const dim = train.dim;
  const { mean, std } = options.standardize === false ? identityScaling(dim) : featureMoments(train.features, dim);
  const standardized = applyScaling(train.features, dim, mean, std);

  const inputs = tf.tensor2d(standardized, [count, dim]);
  const inputsTransposed = tf.tidy(() => tf.transpose(inputs));
  const targets = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(train.labels, 'int32'), numClasses), 'float32'));
  const weightCount = dim * numClasses;
  try {
    const result = await minimizeLbfgs(
      async (theta, gradient) => {
        const [value, gradWeights, gradBias] = tf.tidy(() => {
          const weights = tf.tensor2d(Float32Array.from(theta.subarray(0, weightCount)), [dim, numClasses]);
          const bias = tf.tensor1d(Float32Array.from(theta.subarray(weightCount)));
          const logits = tf.add(tf.matMul(inputs, weights), bias);
          const logProbabilities = tf.logSoftmax(logits);
          const crossEntropy = tf.neg(tf.div(tf.sum(tf.mul(targets, logProbabilities)), count));
          const penalty = tf.mul(0.5 * weightDecay, tf.sum(tf.square(weights)));
          const residual = tf.div(tf.sub(tf.exp(logProbabilities), targets), count);
          return [
            tf.add(crossEntropy, penalty),
            tf.add(tf.matMul(inputsTransposed, residual), tf.mul(weightDecay, weights)),
            tf.sum(residual, 0),
          ];
        });
        const [valueData, weightData, biasData] = await Promise.all([value.data(), gradWeights.data(), gradBias.data()]);
        tf.dispose([value, gradWeights, gradBias]);
        gradient.set(weightData);
        gradient.set(biasData, weightCount);
        return valueData[0];
      },
      new Float64Array(weightCount + numClasses),
      { maxIterations: options.maxIterations ?? 500 },
    );
    return {
      classifier: {
        dim,
        numClasses,
        mean,
        std,
        weights: Float32Array.from(result.x.subarray(0, weightCount)),
        bias: Float32Array.from(result.x.subarray(weightCount)),
      },
      iterations: result.iterations,
      trainLoss: result.value,
      converged: result.converged,
    };
  } finally {
    tf.dispose([inputs, inputsTransposed, targets]);
  }
}

/** Class scores (logits) [count, numClasses] of a fitted classifier, computed in chunks on the backend. */
export async function classifierScores(classifier: LinearClassifier, features: Float32Array, chunkRows = 8192): Promise<Float32Array> {
  const { dim, numClasses } = classifier;
  if (features.length % dim !== 0) {
    throw new SslError('shape-mismatch', `Features have ${features.length} values, not a multiple of the classifier's dim ${dim}.`);
  }
  const count = features.length / dim;
  const scores = new Float32Array(count * numClasses);
  const weights = tf.tensor2d(classifier.weights, [dim, numClasses]);
  const bias = tf.tensor1d(classifier.bias);
  try {
    for (let start = 0; start < count; start += chunkRows) {
      const rows = Math.min(chunkRows, count - start);
      const chunk = applyScaling(features.subarray(start * dim, (start + rows) * dim), dim, classifier.mean, classifier.std);
      const logits = tf.tidy(() => tf.add(tf.matMul(tf.tensor2d(chunk, [rows, dim]), weights), bias));
      scores.set((await logits.data()) as Float32Array, start * numClasses);
      logits.dispose();
    }
  } finally {
    tf.dispose([weights, bias]);
  }
  return scores;
}

/** Per-feature mean and standard deviation (float64 accumulation); constant features get std 1. */
export function featureMoments(features: Float32Array, dim: number): { mean: Float32Array; std: Float32Array } {
  const count = features.length / dim;
  const sum = new Float64Array(dim);
  const sumSquares = new Float64Array(dim);
  for (let row = 0; row < count; row++) {
    const offset = row * dim;
    for (let d = 0; d < dim; d++) {
      const value = features[offset + d];
      sum[d] += value;
      sumSquares[d] += value * value;
    }
  }
  const mean = new Float32Array(dim);
  const std = new Float32Array(dim);
  for (let d = 0; d < dim; d++) {
    const m = count > 0 ? sum[d] / count : 0;
    const variance = count > 0 ? Math.max(sumSquares[d] / count - m * m, 0) : 0;
    mean[d] = m;
    // A constant feature (e.g. an always-black border pixel) carries no information; std 1 maps it to 0.
    std[d] = variance > 1e-12 ? Math.sqrt(variance) : 1;
  }
  return { mean, std };
}

function identityScaling(dim: number): { mean: Float32Array; std: Float32Array } {
  return { mean: new Float32Array(dim), std: new Float32Array(dim).fill(1) };
}

function applyScaling(features: Float32Array, dim: number, mean: Float32Array, std: Float32Array): Float32Array {
  const out = new Float32Array(features.length);
  for (let i = 0; i < features.length; i++) {
    const d = i % dim;
    out[i] = (features[i] - mean[d]) / std[d];
  }
  return out;
}
