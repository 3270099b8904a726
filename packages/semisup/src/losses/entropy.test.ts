import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { entropyLoss } from './entropy';
import {
  Random,
  expectClose,
  expectNoLeak,
  expectSslError,
  lossBeforeAndAfter,
  numericGradient,
  randomValues,
  useCpuBackend,
} from '@ssl/test-utils';

/** Grandvalet & Bengio's H = −1/N Σ_b Σ_k p log p with p = softmax(z), in float64 loops. */
function referenceEntropy(logits: ArrayLike<number>, n: number, k: number): number {
  let total = 0;
  for (let b = 0; b < n; b++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[b * k + c]);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(logits[b * k + c] - max);
    for (let c = 0; c < k; c++) {
      const p = Math.exp(logits[b * k + c] - max) / sum;
      if (p > 0) total -= p * Math.log(p);
    }
  }
  return total / n;
}

describe('entropyLoss', () => {
  beforeAll(useCpuBackend);
  const [n, k] = [4, 5];
  const logits = randomValues(new Random(83), n * k, 2);
  const run = (values: Float32Array, rows = n, classes = k) =>
    tf.tidy(() => entropyLoss(tf.tensor2d(values, [rows, classes])).dataSync()[0]);

  it('equals the plain-loop reference; log K for uniform rows, 0 for one-hot limits; invariant to shifting a row', () => {
    expectClose(run(logits), referenceEntropy(logits, n, k), { relative: 1e-5 });
    expectClose(run(new Float32Array(n * k)), Math.log(k), { relative: 1e-6 });
    // Saturated logits: p log p → 0 without NaN.
    const saturated = Float32Array.from({ length: n * k }, (_, i) => (i % k === 0 ? 200 : -200));
    expect(run(saturated)).toBeCloseTo(0, 6);
    const shifted = Float32Array.from(logits, (v, i) => v + Math.floor(i / k) * 3);
    expectClose(run(shifted), run(logits), { relative: 1e-5 });
  });

  it('has the gradient of the reference (finite differences)', () => {
    const gradient = tf.tidy(() =>
      tf
        .grad((z: tf.Tensor) => entropyLoss(z as tf.Tensor2D))(tf.tensor2d(logits, [n, k]))
        .dataSync(),
    );
    const [expected] = numericGradient(([z]) => referenceEntropy(z, n, k), [logits]);
    expectClose(gradient, expected, { absolute: 1e-6, relative: 1e-3 });
  });

  it('is lowered by a few SGD steps (predictions grow confident)', () => {
    const z = tf.variable(tf.tensor2d(logits, [n, k]));
    const { before, after } = lossBeforeAndAfter(() => entropyLoss(z as unknown as tf.Tensor2D), [z], tf.train.sgd(1), 5);
    expect(after).toBeLessThan(before * 0.9);
    z.dispose();
  });

  it('leaves no tensors behind and rejects bad inputs with SslError', () => {
    const z = tf.tensor2d(logits, [n, k]);
    expectNoLeak(() => entropyLoss(z));
    expectNoLeak(() => tf.grad((x: tf.Tensor) => entropyLoss(x as tf.Tensor2D))(z));
    const vector = tf.zeros([k]) as unknown as tf.Tensor2D;
    const ints = tf.zeros([n, k], 'int32') as tf.Tensor2D;
    const empty = tf.zeros([0, k]) as tf.Tensor2D;
    expectSslError(() => entropyLoss(vector), 'shape-mismatch');
    expectSslError(() => entropyLoss(ints), 'dtype-mismatch');
    expectSslError(() => entropyLoss(empty), 'shape-mismatch');
    tf.dispose([z, vector, ints, empty]);
  });
});
