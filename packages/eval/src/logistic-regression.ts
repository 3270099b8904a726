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
  /**
   * Fit in whitened coordinates (W = P·V, see `whiteningTransform`): the same objective and minimizer in far
   * fewer L-BFGS iterations on correlated features. Default true (skipped when the features outnumber the
   * samples or exceed 1024); false fits W directly.
   */
  precondition?: boolean;
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
 * The products run on the tfjs backend, the softmax on the host: grad_W = X^T (softmax(XW + b) - Y) / N + lambda W.
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

  const weightCount = dim * numClasses;
  const labels = train.labels;
  const residual = new Float32Array(count * numClasses);
  const inputs = tf.tensor2d(standardized, [count, dim]);
  // W = P·V: the fit runs over V on the features Z = X·P, whose covariance is near the identity (see
  // `whiteningTransform`); same objective, so the same minimizer, reached in far fewer iterations.
  const transform =
    options.precondition === false || !worthWhitening(count, dim) ? undefined : await whiteningTransform(inputs, count, dim, weightDecay);
  const [fitInputs, fitInputsTransposed] = tf.tidy(() => {
    const z = transform ? tf.matMul(inputs, tf.tensor2d(Float32Array.from(transform), [dim, dim])) : inputs.clone();
    return [z, tf.transpose(z)];
  });
  inputs.dispose();
  const penaltyWeights = new Float64Array(weightCount);
  try {
    const result = await minimizeLbfgs(
      async (theta, gradient) => {
        // Logits on the backend (one matMul), then softmax, loss and residual softmax(ZV + b) − Y in one host
        // pass over the [count, numClasses] logits, then Zᵀ·residual on the backend: two products and two
        // small transfers per evaluation instead of a dozen element-wise kernels over the logits.
        const logitsTensor = tf.tidy(() =>
          tf.matMul(fitInputs, tf.tensor2d(Float32Array.from(theta.subarray(0, weightCount)), [dim, numClasses])),
        );
        const logits = (await logitsTensor.data()) as Float32Array;
        logitsTensor.dispose();
        let crossEntropy = 0;
        const gradientBias = new Float64Array(numClasses);
        for (let row = 0; row < count; row++) {
          const offset = row * numClasses;
          let max = -Infinity;
          for (let c = 0; c < numClasses; c++) max = Math.max(max, logits[offset + c] + theta[weightCount + c]);
          let sum = 0;
          for (let c = 0; c < numClasses; c++) {
            const e = Math.exp(logits[offset + c] + theta[weightCount + c] - max);
            residual[offset + c] = e;
            sum += e;
          }
          const label = labels[row];
          crossEntropy += max + Math.log(sum) - (logits[offset + label] + theta[weightCount + label]);
          for (let c = 0; c < numClasses; c++) {
            const r = (residual[offset + c] / sum - (c === label ? 1 : 0)) / count;
            residual[offset + c] = r;
            gradientBias[c] += r;
          }
        }
        const gradientTensor = tf.tidy(() => tf.matMul(fitInputsTransposed, tf.tensor2d(residual, [count, numClasses])));
        const gradientData = (await gradientTensor.data()) as Float32Array;
        gradientTensor.dispose();
        // Penalty λ/2 ||W||² with W = P·V, and its gradient λ Pᵀ(P·V) (plain λV without preconditioning).
        const weights = transform
          ? multiply(transform, theta, dim, dim, numClasses, false, penaltyWeights)
          : theta.subarray(0, weightCount);
        const penaltyGradient = transform ? multiply(transform, weights, dim, dim, numClasses, true) : weights;
        let squaredWeights = 0;
        for (let i = 0; i < weightCount; i++) {
          squaredWeights += weights[i] * weights[i];
          gradient[i] = gradientData[i] + weightDecay * penaltyGradient[i];
        }
        gradient.set(gradientBias, weightCount);
        return crossEntropy / count + 0.5 * weightDecay * squaredWeights;
      },
      new Float64Array(weightCount + numClasses),
      { maxIterations: options.maxIterations ?? 500 },
    );
    const weights = transform ? multiply(transform, result.x, dim, dim, numClasses, false) : result.x.subarray(0, weightCount);
    return {
      classifier: {
        dim,
        numClasses,
        mean,
        std,
        weights: Float32Array.from(weights),
        bias: Float32Array.from(result.x.subarray(weightCount)),
      },
      iterations: result.iterations,
      trainLoss: result.value,
      converged: result.converged,
    };
  } finally {
    tf.dispose([fitInputs, fitInputsTransposed]);
  }
}

/** Widest features whitened: the host Cholesky and inverse cost O(dim³) (1024: about a second; 3072: minutes). */
const MAX_WHITENED_DIM = 1024;

/**
 * Whitening pays where features are fewer than the samples and not too many: with more features than samples the
 * covariance is singular, its inverse factor overflows float32 (raw 32×32×3 pixels of 1372 images gave NaN), and
 * the direct fit is well posed anyway under the penalty.
 */
function worthWhitening(count: number, dim: number): boolean {
  return dim <= MAX_WHITENED_DIM && dim < count;
}

/**
 * A preconditioner for the fit: P = L⁻ᵀ with L Lᵀ = XᵀX/N + δI (Cholesky, float64 on the host), δ = the weight
 * decay (at least 1e-6 of the mean variance). The features X·P then have covariance near the identity, which
 * removes the ill-conditioning correlated features give the Hessian (random-init CNN features are strongly
 * correlated: the unpreconditioned fit needed 330–500 L-BFGS iterations on Fashion-MNIST). Directions of
 * variance far below δ are scaled by at most 1/√δ, where the penalty keeps their curvature near 1.
 * Returns P as [dim, dim], row-major.
 */
async function whiteningTransform(inputs: tf.Tensor2D, count: number, dim: number, weightDecay: number): Promise<Float64Array> {
  const covarianceTensor = tf.tidy(() => tf.div(tf.matMul(inputs, inputs, true, false), count));
  const covariance = Float64Array.from((await covarianceTensor.data()) as Float32Array);
  covarianceTensor.dispose();
  let trace = 0;
  for (let i = 0; i < dim; i++) trace += covariance[i * dim + i];
  const shift = Math.max(weightDecay, (1e-6 * trace) / dim, 1e-12);
  // Cholesky of the symmetrized, shifted covariance (lower triangle).
  const lower = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = 0.5 * (covariance[i * dim + j] + covariance[j * dim + i]) + (i === j ? shift : 0);
      for (let k = 0; k < j; k++) sum -= lower[i * dim + k] * lower[j * dim + k];
      lower[i * dim + j] = i === j ? Math.sqrt(Math.max(sum, shift)) : sum / lower[j * dim + j];
    }
  }
  // L⁻¹ by forward substitution, then P = (L⁻¹)ᵀ.
  const inverse = new Float64Array(dim * dim);
  for (let column = 0; column < dim; column++) {
    for (let i = column; i < dim; i++) {
      let sum = i === column ? 1 : 0;
      for (let k = column; k < i; k++) sum -= lower[i * dim + k] * inverse[k * dim + column];
      inverse[i * dim + column] = sum / lower[i * dim + i];
    }
  }
  const transform = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) for (let j = 0; j < dim; j++) transform[i * dim + j] = inverse[j * dim + i];
  return transform;
}

/** a·b (or aᵀ·b) for row-major a [rows, inner] and b [inner, columns], in float64. */
function multiply(
  a: Float64Array,
  b: Float64Array,
  rows: number,
  inner: number,
  columns: number,
  transposeA: boolean,
  out = new Float64Array(rows * columns),
): Float64Array {
  out.fill(0);
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < inner; k++) {
      const factor = transposeA ? a[k * rows + i] : a[i * inner + k];
      if (factor === 0) continue;
      for (let j = 0; j < columns; j++) out[i * columns + j] += factor * b[k * columns + j];
    }
  }
  return out;
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
