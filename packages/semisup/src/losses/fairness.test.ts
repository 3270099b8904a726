import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { selfAdaptiveFairnessLoss } from './fairness';
import { Random, expectClose, expectNoLeak, numericGradient, randomValues, useCpuBackend } from '@ssl/test-utils';

/** Σ_c a_c log(b_c + 1e-12), a = SumNorm(p̃/h̃), b = SumNorm(p̄/h̄) over the masked rows, in float64 loops (eq. 10). */
function reference(strong: ArrayLike<number>, mask: number[], marginal: number[], histogram: number[], k: number): number {
  const rows = mask.map((m, b) => [m, b] as const).filter(([m]) => m === 1);
  if (rows.length === 0) return 0;
  const probabilities = rows.map(([, b]) => {
    const row = Array.from({ length: k }, (_, c) => strong[b * k + c]);
    const max = Math.max(...row);
    const e = row.map((v) => Math.exp(v - max));
    const s = e.reduce((a, v) => a + v, 0);
    return e.map((v) => v / s);
  });
  const mean = Array.from({ length: k }, (_, c) => probabilities.reduce((a, p) => a + p[c], 0) / rows.length);
  const hist = new Array<number>(k).fill(0);
  probabilities.forEach((p) => (hist[p.indexOf(Math.max(...p))] += 1 / rows.length));
  const inverse = (v: number) => (v === 0 ? 0 : 1 / v);
  const normalise = (x: number[]) => {
    const s = x.reduce((a, v) => a + v, 0);
    return x.map((v) => (s === 0 ? 0 : v / s));
  };
  const a = normalise(marginal.map((v, c) => v * inverse(histogram[c])));
  const b = normalise(mean.map((v, c) => v * inverse(hist[c])));
  return a.reduce((total, v, c) => total + v * Math.log(b[c] + 1e-12), 0);
}

describe('selfAdaptiveFairnessLoss', () => {
  beforeAll(useCpuBackend);
  const [n, k] = [8, 4];
  const strong = randomValues(new Random(11), n * k, 1.5);
  const mask = [1, 0, 1, 1, 0, 1, 1, 1];
  const marginal = [0.4, 0.3, 0.2, 0.1];
  const histogram = [0.5, 0.3, 0.2, 0];
  const run = (values: ArrayLike<number>, rowMask = mask) =>
    tf.tidy(
      () =>
        selfAdaptiveFairnessLoss(
          tf.tensor2d(Float32Array.from(values), [n, k]),
          tf.tensor1d(rowMask),
          tf.tensor1d(marginal),
          tf.tensor1d(histogram),
        ).dataSync()[0],
    );

  it('equals the plain-loop reference; 0 when no sample is masked', () => {
    expectClose(run(strong), reference(strong, mask, marginal, histogram, k), { relative: 1e-5 });
    expect(Math.abs(run(strong, new Array<number>(n).fill(0)))).toBe(0);
  });

  it('has the gradient of the reference (finite differences; the histograms are constants)', () => {
    const gradient = tf.tidy(() =>
      tf
        .grad((s: tf.Tensor) =>
          selfAdaptiveFairnessLoss(s as tf.Tensor2D, tf.tensor1d(mask), tf.tensor1d(marginal), tf.tensor1d(histogram)),
        )(tf.tensor2d(strong, [n, k]))
        .dataSync(),
    );
    const [expected] = numericGradient(([s]) => reference(s, mask, marginal, histogram, k), [strong], 1e-5);
    expectClose(gradient, expected, { absolute: 1e-5, relative: 1e-3 });
    expect(Array.from(gradient).some((g) => Math.abs(g) > 1e-4)).toBe(true);
  });

  it('leaves no tensors behind', () => {
    const s = tf.tensor2d(strong, [n, k]);
    const [m, p, h] = [tf.tensor1d(mask), tf.tensor1d(marginal), tf.tensor1d(histogram)];
    expectNoLeak(() => selfAdaptiveFairnessLoss(s, m, p, h));
    tf.dispose([s, m, p, h]);
  });
});
