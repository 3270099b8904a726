import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { softCrossEntropy } from './soft-cross-entropy';
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

/** −1/N Σ_b Σ_k t·log softmax(z) with loops, float64. */
function referenceSoftCrossEntropy(logits: ArrayLike<number>, targets: ArrayLike<number>, n: number, k: number): number {
  let total = 0;
  for (let b = 0; b < n; b++) {
    const row = Array.from({ length: k }, (_, c) => logits[b * k + c]);
    const max = Math.max(...row);
    const logSumExp = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
    for (let c = 0; c < k; c++) total -= targets[b * k + c] * (row[c] - logSumExp);
  }
  return total / n;
}

describe('softCrossEntropy', () => {
  beforeAll(useCpuBackend);
  const [n, k] = [4, 3];
  const rng = new Random(59);
  const logitValues = randomValues(rng, n * k, 2);
  const targetValues = new Float32Array(n * k);
  for (let b = 0; b < n; b++) {
    const row = Array.from({ length: k }, () => rng.uniform(0, 1));
    const sum = row.reduce((a, v) => a + v, 0);
    row.forEach((v, c) => (targetValues[b * k + c] = v / sum));
  }
  const run = (logits: Float32Array, targets: Float32Array) =>
    tf.tidy(() => softCrossEntropy(tf.tensor2d(logits, [n, k]), tf.tensor2d(targets, [n, k])).dataSync()[0]);

  it('equals the plain-loop reference', () => {
    expectClose(run(logitValues, targetValues), referenceSoftCrossEntropy(logitValues, targetValues, n, k), { relative: 1e-5 });
  });

  it('is the usual cross-entropy for one-hot targets and the entropy at its minimum', () => {
    const labels = [2, 0, 1, 1];
    const oneHot = new Float32Array(n * k);
    labels.forEach((label, b) => (oneHot[b * k + label] = 1));
    let sparse = 0;
    for (let b = 0; b < n; b++) {
      const row = Array.from(logitValues.slice(b * k, (b + 1) * k));
      sparse += Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[labels[b]];
    }
    expectClose(run(logitValues, oneHot), sparse / n, { relative: 1e-5 });
    // logits = log(targets): the cross-entropy equals the targets' entropy.
    let entropy = 0;
    for (let i = 0; i < n * k; i++) entropy -= (targetValues[i] * Math.log(targetValues[i])) / n;
    expectClose(run(targetValues.map(Math.log), targetValues), entropy, { relative: 1e-5 });
  });

  it('has the gradient (softmax − targets)/N for the logits and the reference gradient for the targets', () => {
    const [gradLogits, gradTargets] = tf.tidy(() =>
      tf
        .grads((z: tf.Tensor, t: tf.Tensor) => softCrossEntropy(z as tf.Tensor2D, t as tf.Tensor2D))([
          tf.tensor2d(logitValues, [n, k]),
          tf.tensor2d(targetValues, [n, k]),
        ])
        .map((g) => g.dataSync()),
    );
    const expected = numericGradient(([z, t]) => referenceSoftCrossEntropy(z, t, n, k), [logitValues, targetValues]);
    expectClose(gradLogits, expected[0], { absolute: 1e-5, relative: 1e-3 });
    expectClose(gradTargets, expected[1], { absolute: 1e-5, relative: 1e-3 });
  });

  it('is lowered by a few SGD steps on the logits', () => {
    const logits = tf.variable(tf.tensor2d(logitValues, [n, k]));
    const targets = tf.tensor2d(targetValues, [n, k]);
    const { before, after } = lossBeforeAndAfter(() => softCrossEntropy(logits, targets), [logits], tf.train.sgd(1), 5);
    expect(after).toBeLessThan(before - 0.1);
    tf.dispose([logits, targets]);
  });

  it('leaves no tensors behind', () => {
    const logits = tf.tensor2d(logitValues, [n, k]);
    const targets = tf.tensor2d(targetValues, [n, k]);
    expectNoLeak(() => softCrossEntropy(logits, targets));
    expectNoLeak(() => tf.grads((z: tf.Tensor) => softCrossEntropy(z as tf.Tensor2D, targets))([logits]));
    tf.dispose([logits, targets]);
  });

  it('rejects mismatched shapes with SslError', () => {
    const logits = tf.zeros([n, k]) as tf.Tensor2D;
    const targets = tf.zeros([n, k + 1]) as tf.Tensor2D;
    expect(expectSslError(() => softCrossEntropy(logits, targets), 'shape-mismatch')).toContain(`[${n}, ${k + 1}]`);
    tf.dispose([logits, targets]);
  });
});
