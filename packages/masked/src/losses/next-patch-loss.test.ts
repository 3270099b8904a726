import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { nextPatchLoss } from './next-patch-loss';
import { Random, expectClose, expectSslError, lossBeforeAndAfter, numericGradient, randomValues, useCpuBackend } from '@ssl/test-utils';

/** AIM's next-patch ℓ2 loss with loops, float64: position k predicts patch k + 1. */
function referenceNextPatchLoss(
  prediction: ArrayLike<number>,
  target: ArrayLike<number>,
  batch: number,
  length: number,
  values: number,
  normPixLoss: boolean,
): number {
  let total = 0;
  for (let n = 0; n < batch; n++) {
    for (let k = 0; k < length - 1; k++) {
      const patch = (n * length + k + 1) * values;
      let goal = Array.from({ length: values }, (_, c) => target[patch + c]);
      if (normPixLoss) {
        const mean = goal.reduce((a, v) => a + v, 0) / values;
        const variance = goal.reduce((a, v) => a + (v - mean) ** 2, 0) / (values - 1);
        goal = goal.map((v) => (v - mean) / Math.sqrt(variance + 1e-6));
      }
      for (let c = 0; c < values; c++) total += (prediction[(n * length + k) * values + c] - goal[c]) ** 2 / values;
    }
  }
  return total / (batch * (length - 1));
}

describe('nextPatchLoss', () => {
  beforeAll(useCpuBackend);
  const [batch, length, values] = [2, 5, 3];
  const shape: [number, number, number] = [batch, length, values];
  const rng = new Random(7);
  const predictionValues = randomValues(rng, batch * length * values);
  const targetValues = randomValues(rng, batch * length * values, 2, 0.5);
  const loss = (prediction: ArrayLike<number>, normPixLoss: boolean, target: ArrayLike<number> = targetValues) =>
    tf.tidy(
      () =>
        nextPatchLoss(tf.tensor3d(Float32Array.from(prediction), shape), tf.tensor3d(Float32Array.from(target), shape), {
          normPixLoss,
        }).dataSync()[0],
    );

  it('equals the plain-loop reference with and without norm-pix', () => {
    for (const normPixLoss of [false, true]) {
      expectClose(
        loss(predictionValues, normPixLoss),
        referenceNextPatchLoss(predictionValues, targetValues, batch, length, values, normPixLoss),
        {
          relative: 1e-5,
        },
      );
    }
  });

  it('scores position k against patch k + 1: the last prediction and the first patch do not count', () => {
    const lastChanged = predictionValues.map((v, i) => (Math.floor(i / values) % length === length - 1 ? v + 10 : v));
    expect(loss(lastChanged, true)).toBe(loss(predictionValues, true));
    const firstPatchChanged = targetValues.map((v, i) => (Math.floor(i / values) % length === 0 ? v + 10 : v));
    expect(loss(predictionValues, false, firstPatchChanged)).toBe(loss(predictionValues, false));
    // The prediction that copies the next patch has zero loss; the one that copies the same patch does not.
    const shifted = targetValues.map((_, i) => (Math.floor(i / values) % length === length - 1 ? 0 : targetValues[i + values]));
    expect(loss(shifted, false)).toBeLessThan(1e-12);
    expect(loss(targetValues, false)).toBeGreaterThan(0.1);
  });

  it('has the gradient of the reference with respect to the predictions', () => {
    for (const normPixLoss of [false, true]) {
      const gradient = tf.tidy(() =>
        tf
          .grad((prediction: tf.Tensor) => nextPatchLoss(prediction as tf.Tensor3D, tf.tensor3d(targetValues, shape), { normPixLoss }))(
            tf.tensor3d(predictionValues, shape),
          )
          .dataSync(),
      );
      const [expected] = numericGradient(
        ([prediction]) => referenceNextPatchLoss(prediction, targetValues, batch, length, values, normPixLoss),
        [predictionValues],
      );
      expectClose(gradient, expected, { absolute: 1e-5, relative: 1e-3 });
    }
  });

  it('is lowered by a few SGD steps, and rejects a single patch', () => {
    const prediction = tf.variable(tf.tensor3d(predictionValues, shape));
    const target = tf.tensor3d(targetValues, shape);
    const { before, after } = lossBeforeAndAfter(
      () => nextPatchLoss(prediction, target, { normPixLoss: true }),
      [prediction],
      tf.train.sgd(1),
      5,
    );
    expect(after).toBeLessThan(before * 0.5);
    tf.dispose([prediction, target]);
    expectSslError(() => nextPatchLoss(tf.zeros([1, 1, 3]) as tf.Tensor3D, tf.zeros([1, 1, 3]) as tf.Tensor3D), 'shape-mismatch');
  });
});
