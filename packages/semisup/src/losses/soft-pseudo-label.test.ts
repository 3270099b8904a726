import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { classwiseThresholdLoss } from './classwise-threshold';
import { softPseudoLabelLoss } from './soft-pseudo-label';
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

/** 1/N Σ_b 1[max q_b ≥ T(argmax q_b)] · −Σ_k Sharpen(q_b, T)_k log softmax(s_b)_k, in float64 loops. */
function reference(q: number[][], strong: ArrayLike<number>, thresholds: number[], temperature: number, k: number) {
  const s = softmaxRows(strong, q.length, k);
  const mask: number[] = [];
  let total = 0;
  q.forEach((row, b) => {
    let label = 0;
    for (let c = 1; c < k; c++) if (row[c] > row[label]) label = c;
    const keep = row[label] >= thresholds[label] ? 1 : 0;
    mask.push(keep);
    const powered = row.map((p) => Math.pow(p, 1 / temperature));
    const norm = powered.reduce((a, v) => a + v, 0);
    let crossEntropy = 0;
    for (let c = 0; c < k; c++) crossEntropy -= (powered[c] / norm) * Math.log(s[b][c]);
    total += keep * crossEntropy;
  });
  return { loss: total / q.length, mask };
}

describe('softPseudoLabelLoss', () => {
  beforeAll(useCpuBackend);
  const [n, k] = [6, 3];
  const weakLogits = randomValues(new Random(5), n * k, 2);
  const strongLogits = randomValues(new Random(6), n * k, 1.5);
  const q = softmaxRows(weakLogits, n, k);
  const thresholds = [0.9, 0.5, 0.3];

  const run = (strong: ArrayLike<number>, temperature: number, classThresholds = thresholds) =>
    tf.tidy(() => {
      const result = softPseudoLabelLoss({
        weakProbabilities: tf.tensor2d(q.flat(), [n, k]),
        logitsStrong: tf.tensor2d(Float32Array.from(strong), [n, k]),
        classThresholds: tf.tensor1d(classThresholds),
        temperature,
      });
      return { loss: result.loss.dataSync()[0], mask: Array.from(result.mask.dataSync()) };
    });

  it('equals the plain-loop reference (sharpened targets, the hard loss mask) at T 0.5 and 1', () => {
    for (const temperature of [0.5, 1]) {
      const expected = reference(q, strongLogits, thresholds, temperature, k);
      const actual = run(strongLogits, temperature);
      expect(actual.mask).toEqual(expected.mask);
      expectClose(actual.loss, expected.loss, { relative: 1e-5 });
    }
    expect(reference(q, strongLogits, thresholds, 0.5, k).mask.some((m) => m === 1)).toBe(true);
    expect(reference(q, strongLogits, thresholds, 0.5, k).mask.some((m) => m === 0)).toBe(true);
  });

  it('differs from the hard loss, and approaches it as T → 0', () => {
    const hard = tf.tidy(
      () =>
        classwiseThresholdLoss({
          weakProbabilities: tf.tensor2d(q.flat(), [n, k]),
          logitsStrong: tf.tensor2d(strongLogits, [n, k]),
          classThresholds: tf.tensor1d(thresholds),
        }).loss.dataSync()[0],
    );
    expect(Math.abs(run(strongLogits, 1).loss - hard)).toBeGreaterThan(1e-3);
    expectClose(run(strongLogits, 0.01).loss, hard, { relative: 1e-4 });
  });

  it('has the gradient of the reference in the strong logits and none in the weak probabilities', () => {
    const weak = tf.tensor2d(q.flat(), [n, k]);
    const [gradWeak, gradStrong] = tf.tidy(() =>
      tf
        .grads(
          (w: tf.Tensor, s: tf.Tensor) =>
            softPseudoLabelLoss({
              weakProbabilities: w as tf.Tensor2D,
              logitsStrong: s as tf.Tensor2D,
              classThresholds: tf.tensor1d(thresholds),
              temperature: 0.5,
            }).loss,
        )([weak, tf.tensor2d(strongLogits, [n, k])])
        .map((g) => g.dataSync()),
    );
    const [expected] = numericGradient(([s]) => reference(q, s, thresholds, 0.5, k).loss, [strongLogits]);
    expectClose(gradStrong, expected, { absolute: 1e-6, relative: 1e-3 });
    expect(Array.from(gradWeak).every((g) => g === 0)).toBe(true);
    weak.dispose();
  });

  it('lowers its loss in a few gradient steps on the strong logits', () => {
    const strong = tf.variable(tf.tensor2d(strongLogits, [n, k]));
    const weak = tf.tensor2d(q.flat(), [n, k]);
    const classThresholds = tf.tensor1d(thresholds);
    const lossOf = () => softPseudoLabelLoss({ weakProbabilities: weak, logitsStrong: strong, classThresholds, temperature: 0.5 }).loss;
    const before = tf.tidy(() => lossOf().dataSync()[0]);
    const optimizer = tf.train.sgd(0.5);
    for (let i = 0; i < 5; i++) tf.tidy(() => void optimizer.minimize(lossOf));
    const after = tf.tidy(() => lossOf().dataSync()[0]);
    expect(after).toBeLessThan(before * 0.9);
    tf.dispose([strong, weak, classThresholds]);
    optimizer.dispose();
  });

  it('leaves no tensors behind and rejects mismatched thresholds and a temperature ≤ 0 with SslError', () => {
    const weak = tf.tensor2d(q.flat(), [n, k]);
    const strong = tf.tensor2d(strongLogits, [n, k]);
    const good = tf.tensor1d(thresholds);
    const bad = tf.tensor1d([0.5, 0.5]);
    expectNoLeak(() => {
      const r = softPseudoLabelLoss({ weakProbabilities: weak, logitsStrong: strong, classThresholds: good, temperature: 0.5 });
      return [r.loss, r.mask, r.pseudoLabels, r.confidence];
    });
    expectSslError(
      () => softPseudoLabelLoss({ weakProbabilities: weak, logitsStrong: strong, classThresholds: bad, temperature: 0.5 }),
      'shape-mismatch',
    );
    expectSslError(
      () => softPseudoLabelLoss({ weakProbabilities: weak, logitsStrong: strong, classThresholds: good, temperature: 0 }),
      'invalid-config',
    );
    tf.dispose([weak, strong, good, bad]);
  });
});
