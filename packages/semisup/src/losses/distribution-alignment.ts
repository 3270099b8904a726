import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, requireFloat, requireNonEmpty, requireRank } from '@ssl/core';

/** Added to both marginals, as the reference implementations (USB's DistAlign hooks), so an empty class cannot divide by 0. */
const MARGINAL_EPSILON = 1e-6;

/**
 * ReMixMatch's distribution alignment (Berthelot et al. 2020, sec. 3.2):
 * q̃ = Normalize(q · p(y) / p̃(y)), row by row, where p(y) is the class marginal of the labeled data and
 * p̃(y) the running average of the model's predictions on unlabeled data. A class the model predicts more
 * often than the labels say is scaled down, so confidently over-predicted classes lose pseudo-labels.
 *
 * @param probabilities [N, K] predicted class distributions (softmax outputs).
 * @param modelMarginal [K] p̃(y), the running mean of the predictions.
 * @param targetMarginal [K] p(y), the labeled class frequencies (uniform for a balanced split).
 */
export function distributionAlignment(probabilities: Tensor2D, modelMarginal: Tensor1D, targetMarginal: Tensor1D): Tensor2D {
  requireRank('probabilities', probabilities, 2, '[N, K]');
  requireNonEmpty('probabilities', probabilities);
  requireFloat('probabilities', probabilities);
  requireRank('modelMarginal', modelMarginal, 1, '[K]');
  requireRank('targetMarginal', targetMarginal, 1, '[K]');
  const classes = probabilities.shape[1];
  for (const [name, marginal] of [
    ['modelMarginal', modelMarginal],
    ['targetMarginal', targetMarginal],
  ] as const) {
    if (marginal.shape[0] !== classes)
      throw new SslError('shape-mismatch', `${name} ${formatShape(marginal.shape)} must hold one value per class, [${classes}].`);
  }
  return tf.tidy(() => {
    const ratio = tf.div(tf.add(targetMarginal, MARGINAL_EPSILON), tf.add(modelMarginal, MARGINAL_EPSILON));
    const scaled = tf.mul(probabilities, ratio);
    return tf.div(scaled, tf.sum(scaled, 1, true)) as Tensor2D;
  });
}
