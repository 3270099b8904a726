import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { consistencyMse } from './consistency-mse';
import { Random, expectClose, expectNoLeak, expectSslError, lossBeforeAndAfter, numericGradient, useCpuBackend } from '@ssl/test-utils';

/** Mean Teacher's softmax_mse_loss / K / N with loops, float64. */
function referenceConsistency(p1: ArrayLike<number>, p2: ArrayLike<number>, n: number, k: number): number {
  let total = 0;
  for (let b = 0; b < n; b++) {
    let squared = 0;
    for (let c = 0; c < k; c++) squared += (p1[b * k + c] - p2[b * k + c]) ** 2;
    total += squared / k;
  }
  return total / n;
}

describe('consistencyMse', () => {
  beforeAll(useCpuBackend);
  const [n, k] = [3, 5];
  const rng = new Random(61);
  const p1Values = Float32Array.from({ length: n * k }, () => rng.uniform(0, 1));
  const p2Values = Float32Array.from({ length: n * k }, () => rng.uniform(0, 1));
  const run = (a: Float32Array, b: Float32Array) =>
    tf.tidy(() => consistencyMse(tf.tensor2d(a, [n, k]), tf.tensor2d(b, [n, k])).dataSync()[0]);

  it('equals the plain-loop reference, is symmetric and zero for equal inputs', () => {
    expectClose(run(p1Values, p2Values), referenceConsistency(p1Values, p2Values, n, k), { relative: 1e-5 });
    expectClose(run(p2Values, p1Values), run(p1Values, p2Values), { relative: 1e-6 });
    expect(run(p1Values, p1Values)).toBe(0);
  });

  it('has the gradient of the reference for both inputs', () => {
    const gradients = tf.tidy(() =>
      tf
        .grads((a: tf.Tensor, b: tf.Tensor) => consistencyMse(a as tf.Tensor2D, b as tf.Tensor2D))([
          tf.tensor2d(p1Values, [n, k]),
          tf.tensor2d(p2Values, [n, k]),
        ])
        .map((g) => g.dataSync()),
    );
    const expected = numericGradient(([a, b]) => referenceConsistency(a, b, n, k), [p1Values, p2Values]);
    expectClose(gradients[0], expected[0], { absolute: 1e-6, relative: 1e-3 });
    expectClose(gradients[1], expected[1], { absolute: 1e-6, relative: 1e-3 });
  });

  it('is lowered by a few SGD steps', () => {
    const student = tf.variable(tf.tensor2d(p1Values, [n, k]));
    const teacher = tf.tensor2d(p2Values, [n, k]);
    const { before, after } = lossBeforeAndAfter(() => consistencyMse(student, teacher), [student], tf.train.sgd(1), 5);
    expect(after).toBeLessThan(before * 0.9);
    tf.dispose([student, teacher]);
  });

  it('leaves no tensors behind', () => {
    const a = tf.tensor2d(p1Values, [n, k]);
    const b = tf.tensor2d(p2Values, [n, k]);
    expectNoLeak(() => consistencyMse(a, b));
    expectNoLeak(() => tf.grads((x: tf.Tensor) => consistencyMse(x as tf.Tensor2D, b))([a]));
    tf.dispose([a, b]);
  });

  it('rejects mismatched shapes and non-float inputs with SslError', () => {
    const a = tf.zeros([n, k]) as tf.Tensor2D;
    const b = tf.zeros([n + 1, k]) as tf.Tensor2D;
    const ints = tf.zeros([n, k], 'int32') as tf.Tensor2D;
    expectSslError(() => consistencyMse(a, b), 'shape-mismatch');
    expectSslError(() => consistencyMse(a, ints), 'dtype-mismatch');
    tf.dispose([a, b, ints]);
  });
});
