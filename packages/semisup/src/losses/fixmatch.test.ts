import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { fixMatchLoss } from './fixmatch';
import { Random, expectClose, expectNoLeak, expectSslError, lossBeforeAndAfter, numericGradient, useCpuBackend } from '@ssl/test-utils';

/** FixMatch's unlabeled loss with loops, float64. */
function referenceFixMatch(weak: ArrayLike<number>, strong: ArrayLike<number>, n: number, k: number, threshold: number) {
  let total = 0;
  const mask: number[] = [];
  const labels: number[] = [];
  for (let b = 0; b < n; b++) {
    const row = Array.from({ length: k }, (_, c) => weak[b * k + c]);
    const max = Math.max(...row);
    const sum = row.reduce((a, v) => a + Math.exp(v - max), 0);
    const probabilities = row.map((v) => Math.exp(v - max) / sum);
    const label = probabilities.indexOf(Math.max(...probabilities));
    const confident = Math.max(...probabilities) >= threshold ? 1 : 0;
    const strongRow = Array.from({ length: k }, (_, c) => strong[b * k + c]);
    const strongMax = Math.max(...strongRow);
    const logSumExp = strongMax + Math.log(strongRow.reduce((a, v) => a + Math.exp(v - strongMax), 0));
    total += confident * (logSumExp - strongRow[label]);
    mask.push(confident);
    labels.push(label);
  }
  return { loss: total / n, mask, labels };
}

describe('fixMatchLoss', () => {
  beforeAll(useCpuBackend);
  const [n, k] = [6, 3];
  const rng = new Random(43);
  // Rows 0–2 confident (one large logit), rows 3–5 not: max probabilities far from the 0.8 threshold.
  const weakValues = new Float32Array([4, 0, 0.5, 0, -1, 5, 0.2, 6, 0, 0.1, 0.3, 0, 1, 0.8, 0.2, 0, 0, 0.5]);
  const strongValues = Float32Array.from({ length: n * k }, () => rng.normal());
  const run = (weak: Float32Array, strong: Float32Array, threshold?: number, rows = n) =>
    tf.tidy(() => {
      const shape: [number, number] = [rows, weak.length / rows];
      const result = fixMatchLoss({ logitsWeak: tf.tensor2d(weak, shape), logitsStrong: tf.tensor2d(strong, shape), threshold });
      return {
        loss: result.loss.dataSync()[0],
        mask: Array.from(result.mask.dataSync()),
        labels: Array.from(result.pseudoLabels.dataSync()),
        dtype: result.pseudoLabels.dtype,
      };
    });

  it('equals the plain-loop reference: pseudo-labels, mask and the loss averaged over all N samples', () => {
    const result = run(weakValues, strongValues, 0.8);
    const expected = referenceFixMatch(weakValues, strongValues, n, k, 0.8);
    expect(result.mask).toEqual([1, 1, 1, 0, 0, 0]);
    expect(result.mask).toEqual(expected.mask);
    expect(result.labels).toEqual(expected.labels);
    expect(result.dtype).toBe('int32');
    expectClose(result.loss, expected.loss, { relative: 1e-5 });
    // Divides by N = 6, not by the 3 confident samples.
    const confidentOnly = run(weakValues.slice(0, 9), strongValues.slice(0, 9), 0.8, 3).loss;
    expectClose(result.loss, (confidentOnly * 3) / 6, { relative: 1e-5 });
  });

  it('defaults to τ = 0.95 and counts a probability exactly at the threshold (≥)', () => {
    // Find weak logits whose float32 softmax is exactly fround(0.95) on this backend.
    let found: Float32Array | undefined;
    for (let step = -200; step <= 200 && !found; step++) {
      const candidate = new Float32Array([Math.log(19) + step * 1e-7, 0]);
      const probability = tf.tidy(() => tf.max(tf.softmax(tf.tensor2d(candidate, [1, 2]))).dataSync()[0]);
      if (probability === Math.fround(0.95)) found = candidate;
    }
    expect(found, 'no logits give exactly 0.95 in float32').toBeDefined();
    const strong = new Float32Array([0.3, -0.2]);
    expect(run(found!, strong, undefined, 1).mask).toEqual([1]);
    expect(run(found!, strong, 0.95, 1).mask).toEqual([1]);
    // Just above: the next float32 after 0.95 excludes it.
    const above = new Float32Array([Math.fround(0.95)]);
    new Int32Array(above.buffer)[0] += 1;
    expect(run(found!, strong, above[0], 1).mask).toEqual([0]);
  });

  it('with threshold 0 is the plain cross-entropy to the argmax; with 1 almost nothing passes', () => {
    const all = run(weakValues, strongValues, 0);
    expect(all.mask).toEqual([1, 1, 1, 1, 1, 1]);
    expectClose(all.loss, referenceFixMatch(weakValues, strongValues, n, k, 0).loss, { relative: 1e-5 });
    expect(run(weakValues, strongValues, 1).loss).toBe(0);
  });

  it('has the reference gradient for the strong logits and none for the weak logits', () => {
    const [gradWeak, gradStrong] = tf.tidy(() =>
      tf
        .grads(
          (weak: tf.Tensor, strong: tf.Tensor) =>
            fixMatchLoss({ logitsWeak: weak as tf.Tensor2D, logitsStrong: strong as tf.Tensor2D, threshold: 0.8 }).loss,
        )([tf.tensor2d(weakValues, [n, k]), tf.tensor2d(strongValues, [n, k])])
        .map((g) => g.dataSync()),
    );
    expect(Array.from(gradWeak).every((g) => g === 0)).toBe(true);
    const [expected] = numericGradient(([strong]) => referenceFixMatch(weakValues, strong, n, k, 0.8).loss, [strongValues]);
    expectClose(gradStrong, expected, { absolute: 1e-5, relative: 1e-3 });
  });

  it('is lowered by a few SGD steps on the strong logits', () => {
    const strong = tf.variable(tf.tensor2d(strongValues, [n, k]));
    const weak = tf.tensor2d(weakValues, [n, k]);
    const { before, after } = lossBeforeAndAfter(
      () => fixMatchLoss({ logitsWeak: weak, logitsStrong: strong, threshold: 0.8 }).loss,
      [strong],
      tf.train.sgd(1),
      5,
    );
    expect(after).toBeLessThan(before * 0.8);
    tf.dispose([strong, weak]);
  });

  it('returns exactly its three tensors and leaks nothing', () => {
    const weak = tf.tensor2d(weakValues, [n, k]);
    const strong = tf.tensor2d(strongValues, [n, k]);
    expectNoLeak(() => {
      const result = fixMatchLoss({ logitsWeak: weak, logitsStrong: strong });
      return [result.loss, result.mask, result.pseudoLabels];
    });
    expectNoLeak(() => tf.grads((x: tf.Tensor) => fixMatchLoss({ logitsWeak: weak, logitsStrong: x as tf.Tensor2D }).loss)([strong]));
    tf.dispose([weak, strong]);
  });

  it('rejects mismatched logits and thresholds outside [0, 1] with SslError', () => {
    const weak = tf.zeros([n, k]) as tf.Tensor2D;
    const strong = tf.zeros([n, k + 1]) as tf.Tensor2D;
    expect(expectSslError(() => fixMatchLoss({ logitsWeak: weak, logitsStrong: strong }), 'shape-mismatch')).toContain(`[${n}, ${k + 1}]`);
    for (const threshold of [-0.1, 1.01, Number.NaN]) {
      expect(expectSslError(() => fixMatchLoss({ logitsWeak: weak, logitsStrong: weak, threshold }), 'invalid-config')).toContain(
        'threshold',
      );
    }
    tf.dispose([weak, strong]);
  });
});
