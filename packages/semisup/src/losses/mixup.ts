import * as tf from '@tensorflow/tfjs-core';
import type { Rank, Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, formatValue, requireFloat, requireRank, requireSameShape } from '@ssl/core';

export interface MixupResult<R extends Rank> {
  /** λ′·x1 + (1 − λ′)·x2, same shape as x1. */
  x: Tensor<R>;
  /** λ′·p1 + (1 − λ′)·p2, [N, K]. */
  p: Tensor2D;
}

/**
 * MixMatch's MixUp (Berthelot et al. 2019, eq. 8–11): λ′ = max(λ, 1 − λ), x′ = λ′x₁ + (1 − λ′)x₂,
 * p′ = λ′p₁ + (1 − λ′)p₂. Taking the max keeps x′ closer to x₁, so the mixed batch stays in the order of
 * its first argument (labeled entries remain "labeled" for the loss split).
 *
 * `lambda` is either one number for the whole batch (as the paper's eq. 8) or a [N] tensor of per-sample
 * values (as the reference code, which samples Beta(α, α) per example). Drawing λ ~ Beta(α, α) is the
 * caller's job. Tensor values must lie in [0, 1] (not checked).
 *
 * @param x1 [N, ...] first inputs (images NHWC or features).
 * @param x2 [N, ...] inputs to mix in, same shape as x1.
 * @param p1 [N, K] label distributions of x1.
 * @param p2 [N, K] label distributions of x2.
 */
export function mixup<R extends Rank>(x1: Tensor<R>, x2: Tensor<R>, p1: Tensor2D, p2: Tensor2D, lambda: number | Tensor1D): MixupResult<R> {
  requireSameShape('x1', x1, 'x2', x2, 'MixUp blends the two inputs element by element');
  requireRank('p1', p1, 2, '[N, K]');
  requireSameShape('p1', p1, 'p2', p2, 'MixUp blends the two label distributions element by element');
  if (x1.rank < 1 || x1.shape[0] !== p1.shape[0]) {
    throw new SslError(
      'shape-mismatch',
      `x1 ${formatShape(x1.shape)} and p1 ${formatShape(p1.shape)} must have the same batch size (first dimension).`,
      { details: { x1: x1.shape, p1: p1.shape } },
    );
  }
  requireFloat('x1', x1);
  requireFloat('x2', x2);
  requireFloat('p1', p1);
  requireFloat('p2', p2);
  const batchSize = p1.shape[0];
  if (typeof lambda === 'number') {
    if (!(lambda >= 0 && lambda <= 1)) {
      throw new SslError('invalid-config', `Invalid config value lambda = ${formatValue(lambda)}: expected a number in [0, 1].`, {
        details: { field: 'lambda', value: lambda },
      });
    }
  } else {
    requireRank('lambda', lambda, 1, '[N]');
    requireFloat('lambda', lambda);
    if (lambda.shape[0] !== batchSize) {
      throw new SslError('shape-mismatch', `lambda ${formatShape(lambda.shape)} must hold one value per sample, [${batchSize}].`, {
        details: { lambda: lambda.shape, batchSize },
      });
    }
  }

  return tf.tidy(() => {
    // Eq. 9: λ′ = max(λ, 1 − λ).
    const mixWeight: Tensor | number = typeof lambda === 'number' ? Math.max(lambda, 1 - lambda) : tf.maximum(lambda, tf.sub(1, lambda));
    const weightFor = (rank: number): Tensor | number =>
      typeof mixWeight === 'number' ? mixWeight : tf.reshape(mixWeight, [batchSize, ...new Array<number>(rank - 1).fill(1)]);
    const blend = <T extends Tensor>(a: T, b: T): T => {
      const weight = weightFor(a.rank);
      const complement = typeof weight === 'number' ? 1 - weight : tf.sub(1, weight);
      // Eq. 10–11, written so λ′ = 1 returns a exactly.
      return tf.add(tf.mul(weight, a), tf.mul(complement, b)) as T;
    };
    return { x: blend(x1, x2), p: blend(p1, p2) };
  });
}
