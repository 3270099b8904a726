import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { nextPatchLoss } from '../losses/next-patch-loss';
import { drawPrefixLengths, prefixNextPatchLoss } from './prefix-next-patch-loss';
import { Random, expectClose, expectSslError, lossBeforeAndAfter, numericGradient, randomValues, useCpuBackend } from '@ssl/test-utils';

/** AIM eq. 2 after the prefix, with loops, float64: image n scores positions k = K_n − 1 … L − 2 against patch k + 1. */
function referencePrefixLoss(
  prediction: ArrayLike<number>,
  target: ArrayLike<number>,
  prefixLengths: readonly number[],
  [batch, length, values]: readonly number[],
  normPixLoss: boolean,
): number {
  let total = 0;
  let count = 0;
  for (let n = 0; n < batch; n++) {
    for (let k = prefixLengths[n] - 1; k < length - 1; k++) {
      const patch = (n * length + k + 1) * values;
      let goal = Array.from({ length: values }, (_, c) => target[patch + c]);
      if (normPixLoss) {
        const mean = goal.reduce((a, v) => a + v, 0) / values;
        const variance = goal.reduce((a, v) => a + (v - mean) ** 2, 0) / (values - 1);
        goal = goal.map((v) => (v - mean) / Math.sqrt(variance + 1e-6));
      }
      for (let c = 0; c < values; c++) total += (prediction[(n * length + k) * values + c] - goal[c]) ** 2 / values;
      count += 1;
    }
  }
  return total / count;
}

describe('prefixNextPatchLoss', () => {
  beforeAll(useCpuBackend);
  const shape: [number, number, number] = [3, 6, 4];
  const [batch, length, values] = shape;
  const prefixLengths = [1, 3, 5];
  const rng = new Random(5);
  const predictionValues = randomValues(rng, batch * length * values);
  const targetValues = randomValues(rng, batch * length * values, 2, 0.5);
  const loss = (prediction: ArrayLike<number>, normPixLoss: boolean, prefix: readonly number[] = prefixLengths) =>
    tf.tidy(
      () =>
        prefixNextPatchLoss(tf.tensor3d(Float32Array.from(prediction), shape), tf.tensor3d(targetValues, shape), prefix, {
          normPixLoss,
        }).dataSync()[0],
    );

  it('equals the plain-loop reference with and without norm-pix, and nextPatchLoss at prefix 1', () => {
    for (const normPixLoss of [false, true]) {
      expectClose(
        loss(predictionValues, normPixLoss),
        referencePrefixLoss(predictionValues, targetValues, prefixLengths, shape, normPixLoss),
        {
          relative: 1e-5,
        },
      );
      const plain = tf.tidy(
        () => nextPatchLoss(tf.tensor3d(predictionValues, shape), tf.tensor3d(targetValues, shape), { normPixLoss }).dataSync()[0],
      );
      expect(loss(predictionValues, normPixLoss, [1, 1, 1])).toBeCloseTo(plain, 6);
    }
  });

  it('does not score the positions inside the prefix, which have seen their next patch', () => {
    // Image 2 (K = 5): positions 0 … 3 predict patches 1 … 4, all in its prefix.
    const insidePrefixChanged = predictionValues.map((v, i) => {
      const [n, k] = [Math.floor(i / (length * values)), Math.floor(i / values) % length];
      return n === 2 && k < 4 ? v + 10 : v;
    });
    expect(loss(insidePrefixChanged, true)).toBe(loss(predictionValues, true));
    // Position 4 (K − 1) predicts patch 5, the first after the prefix: it counts.
    const lastPrefixChanged = predictionValues.map((v, i) =>
      Math.floor(i / (length * values)) === 2 && Math.floor(i / values) % length === 4 ? v + 10 : v,
    );
    expect(loss(lastPrefixChanged, true)).toBeGreaterThan(loss(predictionValues, true) + 1);
  });

  it('has the gradient of the reference with respect to the predictions', () => {
    for (const normPixLoss of [false, true]) {
      const gradient = tf.tidy(() =>
        tf
          .grad((prediction: tf.Tensor) =>
            prefixNextPatchLoss(prediction as tf.Tensor3D, tf.tensor3d(targetValues, shape), prefixLengths, { normPixLoss }),
          )(tf.tensor3d(predictionValues, shape))
          .dataSync(),
      );
      const [expected] = numericGradient(
        ([prediction]) => referencePrefixLoss(prediction, targetValues, prefixLengths, shape, normPixLoss),
        [predictionValues],
      );
      expectClose(gradient, expected, { absolute: 1e-5, relative: 1e-3 });
    }
  });

  it('is lowered by a few SGD steps; rejects prefixes that leave nothing to predict', () => {
    const prediction = tf.variable(tf.tensor3d(predictionValues, shape));
    const target = tf.tensor3d(targetValues, shape);
    const { before, after } = lossBeforeAndAfter(
      () => prefixNextPatchLoss(prediction, target, prefixLengths),
      [prediction],
      tf.train.sgd(4),
      5,
    );
    expect(after).toBeLessThan(before * 0.5);
    expect(expectSslError(() => prefixNextPatchLoss(prediction, target, [1, 3, 6]), 'shape-mismatch')).toContain('[1, 5]');
    expectSslError(() => prefixNextPatchLoss(prediction, target, [1, 3]), 'shape-mismatch');
    tf.dispose([prediction, target]);
  });

  it('draws prefix lengths uniformly in [1, L − 1]', () => {
    const drawn = drawPrefixLengths(4000, 5, new Random(1));
    const counts = [1, 2, 3, 4].map((k) => drawn.filter((d) => d === k).length);
    expect(drawn.every((k) => k >= 1 && k <= 4)).toBe(true);
    for (const count of counts) expect(Math.abs(count - 1000)).toBeLessThan(120);
  });
});
