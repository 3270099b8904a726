import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mixup } from './mixup';
import { Random, expectClose, expectNoLeak, expectSslError, randomValues, useCpuBackend } from '@ssl/test-utils';

describe('mixup', () => {
  beforeAll(useCpuBackend);
  const [n, height, width, channels, k] = [3, 2, 2, 1, 4];
  const pixels = height * width * channels;
  const rng = new Random(53);
  const x1Values = randomValues(rng, n * pixels);
  const x2Values = randomValues(rng, n * pixels);
  const p1Values = randomValues(rng, n * k);
  const p2Values = randomValues(rng, n * k);
  const run = (lambda: number | number[]) =>
    tf.tidy(() => {
      const result = mixup(
        tf.tensor4d(x1Values, [n, height, width, channels]),
        tf.tensor4d(x2Values, [n, height, width, channels]),
        tf.tensor2d(p1Values, [n, k]),
        tf.tensor2d(p2Values, [n, k]),
        typeof lambda === 'number' ? lambda : tf.tensor1d(lambda),
      );
      return { x: result.x.dataSync(), xShape: result.x.shape, p: result.p.dataSync() };
    });
  /** Eq. 9–11 with loops, one λ per sample. */
  const reference = (lambdas: number[]) => {
    const x = new Float64Array(n * pixels);
    const p = new Float64Array(n * k);
    for (let b = 0; b < n; b++) {
      const weight = Math.max(lambdas[b], 1 - lambdas[b]);
      for (let i = 0; i < pixels; i++) x[b * pixels + i] = weight * x1Values[b * pixels + i] + (1 - weight) * x2Values[b * pixels + i];
      for (let c = 0; c < k; c++) p[b * k + c] = weight * p1Values[b * k + c] + (1 - weight) * p2Values[b * k + c];
    }
    return { x, p };
  };

  it('blends inputs and labels with λ′ = max(λ, 1 − λ) for a batch-wide λ', () => {
    const result = run(0.3);
    const expected = reference([0.3, 0.3, 0.3]);
    expect(result.xShape).toEqual([n, height, width, channels]);
    expectClose(result.x, expected.x, { absolute: 1e-6 });
    expectClose(result.p, expected.p, { absolute: 1e-6 });
  });

  it('accepts one λ per sample, as the reference code', () => {
    const lambdas = [0.1, 0.5, 0.9];
    const result = run(lambdas);
    const expected = reference(lambdas);
    expectClose(result.x, expected.x, { absolute: 1e-6 });
    expectClose(result.p, expected.p, { absolute: 1e-6 });
  });

  it('uses λ′ ≥ 0.5: λ and 1 − λ give the same result, closer to the first input', () => {
    const low = run(0.2);
    const high = run(0.8);
    expectClose(low.x, high.x, { absolute: 1e-6 });
    for (let i = 0; i < n * pixels; i++) {
      expect(Math.abs(low.x[i] - x1Values[i])).toBeLessThanOrEqual(Math.abs(low.x[i] - x2Values[i]) + 1e-6);
    }
    expect(Array.from(run(0).x)).toEqual(Array.from(x1Values));
    expect(Array.from(run(1).p)).toEqual(Array.from(p1Values));
  });

  it('has gradients λ′ and 1 − λ′ for the two inputs', () => {
    const weights = randomValues(rng, n * k);
    const [grad1, grad2] = tf.tidy(() =>
      tf
        .grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(
            tf.mul(mixup(a as tf.Tensor2D, b as tf.Tensor2D, a as tf.Tensor2D, b as tf.Tensor2D, 0.25).x, tf.tensor2d(weights, [n, k])),
          ),
        )([tf.tensor2d(p1Values, [n, k]), tf.tensor2d(p2Values, [n, k])])
        .map((g) => g.dataSync()),
    );
    expectClose(
      grad1,
      Array.from(weights, (w) => 0.75 * w),
      { absolute: 1e-6 },
    );
    expectClose(
      grad2,
      Array.from(weights, (w) => 0.25 * w),
      { absolute: 1e-6 },
    );
  });

  it('leaves no tensors behind', () => {
    const x = tf.tensor4d(x1Values, [n, height, width, channels]);
    const p = tf.tensor2d(p1Values, [n, k]);
    const lambdas = tf.tensor1d([0.1, 0.2, 0.3]);
    expectNoLeak(() => {
      const result = mixup(x, x, p, p, 0.4);
      return [result.x, result.p];
    });
    expectNoLeak(() => {
      const result = mixup(x, x, p, p, lambdas);
      return [result.x, result.p];
    });
    tf.dispose([x, p, lambdas]);
  });

  it('rejects mismatched shapes and λ outside [0, 1] with SslError', () => {
    const x = tf.zeros([n, 4]) as tf.Tensor2D;
    const otherX = tf.zeros([n, 5]) as tf.Tensor2D;
    const p = tf.zeros([n, k]) as tf.Tensor2D;
    const shortP = tf.zeros([n - 1, k]) as tf.Tensor2D;
    const wrongLambdas = tf.zeros([n + 1]) as tf.Tensor1D;
    expectSslError(() => mixup(x, otherX, p, p, 0.5), 'shape-mismatch');
    expectSslError(() => mixup(x, x, p, shortP, 0.5), 'shape-mismatch');
    expect(expectSslError(() => mixup(x, x, shortP, shortP, 0.5), 'shape-mismatch')).toContain('batch size');
    expectSslError(() => mixup(x, x, p, p, wrongLambdas), 'shape-mismatch');
    for (const lambda of [-0.1, 1.5, Number.NaN])
      expect(expectSslError(() => mixup(x, x, p, p, lambda), 'invalid-config')).toContain('lambda');
    tf.dispose([x, otherX, p, shortP, wrongLambdas]);
  });
});
