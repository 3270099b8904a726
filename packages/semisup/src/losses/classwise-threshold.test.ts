import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { classwiseThresholdLoss } from './classwise-threshold';
import { fixMatchLoss } from './fixmatch';
import { Random, expectClose, expectNoLeak, expectSslError, numericGradient, randomValues, useCpuBackend } from '@ssl/test-utils';

function softmaxRows(values: ArrayLike<number>, n: number, k: number): number[][] {
  return Array.from({ length: n }, (_, b) => {
    const row = Array.from({ length: k }, (_, c) => values[b * k + c]);
    const max = Math.max(...row);
    const e = row.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, v) => a + v, 0);
    return e.map((v) => v / sum);
  });
}

/** 1/N Σ_b 1[max q_b ≥ T(argmax q_b)] · (−log softmax(s_b)[argmax q_b]), in float64 loops. */
function reference(q: number[][], strong: ArrayLike<number>, thresholds: number[], k: number): { loss: number; mask: number[] } {
  const s = softmaxRows(strong, q.length, k);
  const mask: number[] = [];
  let total = 0;
  q.forEach((row, b) => {
    let label = 0;
    for (let c = 1; c < k; c++) if (row[c] > row[label]) label = c;
    const keep = row[label] >= thresholds[label] ? 1 : 0;
    mask.push(keep);
    total += keep * -Math.log(s[b][label]);
  });
  return { loss: total / q.length, mask };
}

describe('classwiseThresholdLoss', () => {
  beforeAll(useCpuBackend);
  const [n, k] = [6, 3];
  const weakLogits = randomValues(new Random(5), n * k, 2);
  const strongLogits = randomValues(new Random(6), n * k, 1.5);
  const q = softmaxRows(weakLogits, n, k);
  const thresholds = [0.9, 0.5, 0.3];

  const run = (strong: ArrayLike<number>, classThresholds = thresholds) =>
    tf.tidy(() => {
      const result = classwiseThresholdLoss({
        weakProbabilities: tf.tensor2d(q.flat(), [n, k]),
        logitsStrong: tf.tensor2d(Float32Array.from(strong), [n, k]),
        classThresholds: tf.tensor1d(classThresholds),
      });
      return { loss: result.loss.dataSync()[0], mask: Array.from(result.mask.dataSync()) };
    });

  it('equals the plain-loop reference with a threshold per predicted class, and fixMatchLoss when all thresholds are τ', () => {
    const expected = reference(q, strongLogits, thresholds, k);
    const actual = run(strongLogits);
    expect(actual.mask).toEqual(expected.mask);
    expect(expected.mask.some((m) => m === 1) && expected.mask.some((m) => m === 0)).toBe(true);
    expectClose(actual.loss, expected.loss, { relative: 1e-5 });
    const fixmatch = tf.tidy(
      () =>
        fixMatchLoss({
          logitsWeak: tf.tensor2d(weakLogits, [n, k]),
          logitsStrong: tf.tensor2d(strongLogits, [n, k]),
          threshold: 0.6,
        }).loss.dataSync()[0],
    );
    expectClose(run(strongLogits, [0.6, 0.6, 0.6]).loss, fixmatch, { relative: 1e-5 });
  });

  it('has the gradient of the reference in the strong logits and none in the weak probabilities', () => {
    const weak = tf.tensor2d(q.flat(), [n, k]);
    const [gradWeak, gradStrong] = tf.tidy(() =>
      tf
        .grads(
          (w: tf.Tensor, s: tf.Tensor) =>
            classwiseThresholdLoss({
              weakProbabilities: w as tf.Tensor2D,
              logitsStrong: s as tf.Tensor2D,
              classThresholds: tf.tensor1d(thresholds),
            }).loss,
        )([weak, tf.tensor2d(strongLogits, [n, k])])
        .map((g) => g.dataSync()),
    );
    const [expected] = numericGradient(([s]) => reference(q, s, thresholds, k).loss, [strongLogits]);
    expectClose(gradStrong, expected, { absolute: 1e-6, relative: 1e-3 });
    expect(Array.from(gradWeak).every((g) => g === 0)).toBe(true);
    weak.dispose();
  });

  it('leaves no tensors behind and rejects mismatched thresholds with SslError', () => {
    const weak = tf.tensor2d(q.flat(), [n, k]);
    const strong = tf.tensor2d(strongLogits, [n, k]);
    const good = tf.tensor1d(thresholds);
    const bad = tf.tensor1d([0.5, 0.5]);
    expectNoLeak(() => {
      const r = classwiseThresholdLoss({ weakProbabilities: weak, logitsStrong: strong, classThresholds: good });
      return [r.loss, r.mask, r.pseudoLabels, r.confidence];
    });
    expectSslError(() => classwiseThresholdLoss({ weakProbabilities: weak, logitsStrong: strong, classThresholds: bad }), 'shape-mismatch');
    tf.dispose([weak, strong, good, bad]);
  });
});
