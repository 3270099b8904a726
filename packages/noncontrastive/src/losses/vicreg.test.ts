import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { vicregLoss } from './vicreg';
import type { VicregOptions } from './vicreg';
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

/** VICReg as the reference code, with loops, float64. */
function referenceVicreg(
  z1: ArrayLike<number>,
  z2: ArrayLike<number>,
  n: number,
  d: number,
  { simCoeff = 25, stdCoeff = 25, covCoeff = 1 }: VicregOptions = {},
): number {
  let invariance = 0;
  for (let i = 0; i < n * d; i++) invariance += (z1[i] - z2[i]) ** 2 / (n * d);
  const terms = (z: ArrayLike<number>) => {
    const centered = new Float64Array(n * d);
    for (let c = 0; c < d; c++) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += z[i * d + c] / n;
      for (let i = 0; i < n; i++) centered[i * d + c] = z[i * d + c] - mean;
    }
    let variance = 0;
    let covariance = 0;
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        let cov = 0;
        for (let i = 0; i < n; i++) cov += (centered[i * d + a] * centered[i * d + b]) / (n - 1);
        if (a === b) variance += Math.max(0, 1 - Math.sqrt(cov + 1e-4)) / d;
        else covariance += cov ** 2 / d;
      }
    }
    return { variance, covariance };
  };
  const first = terms(z1);
  const second = terms(z2);
  return simCoeff * invariance + (stdCoeff * (first.variance + second.variance)) / 2 + covCoeff * (first.covariance + second.covariance);
}

describe('vicregLoss', () => {
  beforeAll(useCpuBackend);
  const n = 5;
  const d = 4;
  const rng = new Random(17);
  // Mixed scales so some feature std is below 1 (hinge active) and some above (hinge inactive).
  const z1Values = randomValues(rng, n * d).map((v, index) => v * [0.3, 2, 0.8, 1.5][index % d]);
  const z2Values = randomValues(rng, n * d).map((v, index) => v * [0.5, 1.7, 0.2, 3][index % d]);
  const loss = (a: ArrayLike<number>, b: ArrayLike<number>, options?: VicregOptions) =>
    tf.tidy(() => vicregLoss(tf.tensor2d(Float32Array.from(a), [n, d]), tf.tensor2d(Float32Array.from(b), [n, d]), options).dataSync()[0]);

  it('equals the plain-loop reference with default and custom coefficients', () => {
    expectClose(loss(z1Values, z2Values), referenceVicreg(z1Values, z2Values, n, d), { relative: 1e-5 });
    const custom = { simCoeff: 1, stdCoeff: 3, covCoeff: 0.5 };
    expectClose(loss(z1Values, z2Values, custom), referenceVicreg(z1Values, z2Values, n, d, custom), { relative: 1e-5 });
  });

  it('isolates each term by its coefficient', () => {
    // Only the invariance term: plain MSE.
    let mse = 0;
    for (let i = 0; i < n * d; i++) mse += (z1Values[i] - z2Values[i]) ** 2 / (n * d);
    expectClose(loss(z1Values, z2Values, { simCoeff: 1, stdCoeff: 0, covCoeff: 0 }), mse, { relative: 1e-5 });
    // Identical views: no invariance term.
    expectClose(loss(z1Values, z1Values, { simCoeff: 1, stdCoeff: 0, covCoeff: 0 }), 0, { absolute: 1e-7 });
  });

  it('is symmetric in the two views', () => {
    expectClose(loss(z2Values, z1Values), loss(z1Values, z2Values), { relative: 1e-6 });
  });

  it('has the gradient of the reference for both inputs', () => {
    const gradients = tf.tidy(() =>
      tf
        .grads((a: tf.Tensor, b: tf.Tensor) => vicregLoss(a as tf.Tensor2D, b as tf.Tensor2D))([
          tf.tensor2d(z1Values, [n, d]),
          tf.tensor2d(z2Values, [n, d]),
        ])
        .map((g) => g.dataSync()),
    );
    const expected = numericGradient(([a, b]) => referenceVicreg(a, b, n, d), [z1Values, z2Values]);
    expectClose(gradients[0], expected[0], { absolute: 1e-4, relative: 1e-3 });
    expectClose(gradients[1], expected[1], { absolute: 1e-4, relative: 1e-3 });
  });

  it('is lowered by a few SGD steps', () => {
    const z1 = tf.variable(tf.tensor2d(z1Values, [n, d]));
    const z2 = tf.variable(tf.tensor2d(z2Values, [n, d]));
    const { before, after } = lossBeforeAndAfter(() => vicregLoss(z1, z2), [z1, z2], tf.train.sgd(0.01), 10);
    expect(after).toBeLessThan(before * 0.9);
    tf.dispose([z1, z2]);
  });

  it('leaves no tensors behind', () => {
    const z1 = tf.tensor2d(z1Values, [n, d]);
    const z2 = tf.tensor2d(z2Values, [n, d]);
    expectNoLeak(() => vicregLoss(z1, z2));
    expectNoLeak(() => tf.grads((x: tf.Tensor) => vicregLoss(x as tf.Tensor2D, z2))([z1]));
    tf.dispose([z1, z2]);
  });

  it('rejects bad shapes and coefficients with SslError', () => {
    const z = tf.zeros([5, 4]) as tf.Tensor2D;
    const single = tf.zeros([1, 4]) as tf.Tensor2D;
    expectSslError(() => vicregLoss(z, tf.zeros([5, 2]) as tf.Tensor2D), 'shape-mismatch');
    expectSslError(() => vicregLoss(single, single), 'shape-mismatch');
    for (const field of ['simCoeff', 'stdCoeff', 'covCoeff'] as const) {
      expect(expectSslError(() => vicregLoss(z, z, { [field]: -0.5 }), 'invalid-config')).toContain(field);
    }
    tf.dispose([z, single]);
  });
});
