import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
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
import { denoisingLoss } from './denoising-loss';

/** Vincent et al. 2010 Sec. 4.3 with loops, float64: (α Σ_J + β Σ_not J) (z − x)², over N·D. */
function referenceLoss(z: ArrayLike<number>, x: ArrayLike<number>, mask: ArrayLike<number>, alpha: number, beta: number): number {
  let total = 0;
  for (let j = 0; j < x.length; j++) total += (mask[j] === 1 ? alpha : beta) * (z[j] - x[j]) ** 2;
  return total / x.length;
}

describe('denoisingLoss', () => {
  beforeAll(useCpuBackend);
  const shape: [number, number, number, number] = [2, 3, 2, 1];
  const size = 12;
  const rng = new Random(5);
  const z = randomValues(rng, size);
  const x = randomValues(rng, size, 1, 0.5);
  const mask = Float32Array.from([1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0]);
  const loss = (zValues: ArrayLike<number>, alpha?: number, beta?: number) =>
    tf.tidy(
      () =>
        denoisingLoss(tf.tensor4d(Float32Array.from(zValues), shape), tf.tensor4d(x, shape), tf.tensor4d(mask, shape), {
          corruptedWeight: alpha,
          cleanWeight: beta,
        }).dataSync()[0],
    );

  it('equals the plain-loop reference for several α, β and defaults to the plain squared error', () => {
    for (const [alpha, beta] of [
      [1, 1],
      [1, 0.5],
      [2, 0],
      [0, 1],
    ]) {
      expectClose(loss(z, alpha, beta), referenceLoss(z, x, mask, alpha, beta), { relative: 1e-5 });
    }
    expectClose(loss(z), referenceLoss(z, x, mask, 1, 1), { relative: 1e-5 });
    // β = 0 ignores clean components entirely: changing them changes nothing.
    const moved = Float32Array.from(z, (v, j) => (mask[j] === 0 ? v + 3 : v));
    expect(loss(moved, 1, 0)).toBeCloseTo(loss(z, 1, 0), 6);
  });

  it('has the reference gradient (finite differences on the float64 loops)', () => {
    const [expected] = numericGradient(([values]) => referenceLoss(values, x, mask, 1.5, 0.25), [z]);
    const grad = tf.tidy(() =>
      tf
        .grad((zt: tf.Tensor) =>
          denoisingLoss(zt, tf.tensor4d(x, shape), tf.tensor4d(mask, shape), { corruptedWeight: 1.5, cleanWeight: 0.25 }),
        )(tf.tensor4d(z, shape))
        .dataSync(),
    );
    expectClose(grad, expected, { absolute: 1e-5, relative: 1e-3 });
  });

  it('falls under a few optimizer steps, is leak-free and checks its arguments', () => {
    const variable = tf.variable(tf.tensor4d(z, shape));
    const target = tf.tensor4d(x, shape);
    const weights = tf.tensor4d(mask, shape);
    const { before, after } = lossBeforeAndAfter(
      () => denoisingLoss(variable, target, weights, { cleanWeight: 0.5 }),
      [variable],
      tf.train.sgd(5),
      5,
    );
    expect(after).toBeLessThan(0.5 * before);
    expectNoLeak(() => denoisingLoss(variable, target, weights));
    expectSslError(() => denoisingLoss(variable, tf.zeros([2, 3, 2, 2]), weights), 'shape-mismatch');
    expectSslError(() => denoisingLoss(variable, target, tf.zeros([2, 6])), 'shape-mismatch');
    expect(expectSslError(() => denoisingLoss(variable, target, weights, { cleanWeight: -1 }), 'invalid-config')).toContain('cleanWeight');
    tf.dispose([variable, target, weights]);
  });
});
