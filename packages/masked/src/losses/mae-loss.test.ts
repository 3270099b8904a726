import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { maeLoss } from './mae-loss';
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

/** MAE forward_loss with loops, float64. */
function referenceMaeLoss(
  pred: ArrayLike<number>,
  target: ArrayLike<number>,
  mask: ArrayLike<number>,
  batch: number,
  numPatches: number,
  patchLength: number,
  normPixLoss: boolean,
): number {
  let weighted = 0;
  let maskSum = 0;
  for (let patch = 0; patch < batch * numPatches; patch++) {
    const values = Array.from({ length: patchLength }, (_, c) => target[patch * patchLength + c]);
    let goal = values;
    if (normPixLoss) {
      const mean = values.reduce((a, v) => a + v, 0) / patchLength;
      const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (patchLength - 1);
      goal = values.map((v) => (v - mean) / Math.sqrt(variance + 1e-6));
    }
    let mse = 0;
    for (let c = 0; c < patchLength; c++) mse += (pred[patch * patchLength + c] - goal[c]) ** 2 / patchLength;
    weighted += mse * mask[patch];
    maskSum += mask[patch];
  }
  return weighted / maskSum;
}

describe('maeLoss', () => {
  beforeAll(useCpuBackend);
  const [batch, numPatches, patchLength] = [2, 4, 3];
  const rng = new Random(41);
  const predValues = randomValues(rng, batch * numPatches * patchLength);
  const targetValues = randomValues(rng, batch * numPatches * patchLength, 2, 0.5);
  const maskValues = new Float32Array([1, 0, 1, 1, 0, 0, 1, 0]);
  const shape: [number, number, number] = [batch, numPatches, patchLength];
  const loss = (pred: ArrayLike<number>, mask: ArrayLike<number>, normPixLoss: boolean, target: ArrayLike<number> = targetValues) =>
    tf.tidy(
      () =>
        maeLoss(
          tf.tensor3d(Float32Array.from(pred), shape),
          tf.tensor3d(Float32Array.from(target), shape),
          tf.tensor2d(Float32Array.from(mask), [batch, numPatches]),
          {
            normPixLoss,
          },
        ).dataSync()[0],
    );

  it('equals the plain-loop reference with and without norm-pix', () => {
    for (const normPixLoss of [false, true]) {
      expectClose(
        loss(predValues, maskValues, normPixLoss),
        referenceMaeLoss(predValues, targetValues, maskValues, batch, numPatches, patchLength, normPixLoss),
        {
          relative: 1e-5,
        },
      );
    }
  });

  it('defaults to raw pixels, as the reference flag', () => {
    const value = tf.tidy(
      () =>
        maeLoss(
          tf.tensor3d(predValues, shape),
          tf.tensor3d(targetValues, shape),
          tf.tensor2d(maskValues, [batch, numPatches]),
        ).dataSync()[0],
    );
    expect(value).toBe(loss(predValues, maskValues, false));
  });

  it('counts masked patches only and divides by their number', () => {
    // Change predictions on visible patches only: the loss must not move.
    const changed = predValues.map((v, index) => (maskValues[Math.floor(index / patchLength)] === 0 ? v + 10 : v));
    expect(loss(changed, maskValues, true)).toBe(loss(predValues, maskValues, true));
    // One masked patch with squared errors (1, 4, 9)/3 = 14/3, the rest visible.
    const pred = new Float32Array(batch * numPatches * patchLength);
    pred.set([1, 2, 3], 3 * patchLength);
    const onlyPatch3 = new Float32Array(batch * numPatches);
    onlyPatch3[3] = 1;
    expectClose(loss(pred, onlyPatch3, false, new Float32Array(pred.length)), 14 / 3, { relative: 1e-6 });
  });

  it('normalizes each target patch by its own mean and unbiased variance (ε = 1e-6)', () => {
    // Target patch [0, 1, 5]: mean 2, unbiased variance (4 + 1 + 9)/2 = 7 → (t − 2)/sqrt(7 + 1e-6).
    const target = new Float32Array(batch * numPatches * patchLength);
    target.set([0, 1, 5]);
    const pred = new Float32Array(target.length);
    const normalized = [0, 1, 5].map((t) => (t - 2) / Math.sqrt(7 + 1e-6));
    pred.set(normalized);
    const onlyPatch0 = new Float32Array(batch * numPatches);
    onlyPatch0[0] = 1;
    expectClose(loss(pred, onlyPatch0, true, target), 0, { absolute: 1e-7 });
    // With the biased variance (14/3) the same prediction would miss by a visible amount.
    const biased = [0, 1, 5].map((t) => (t - 2) / Math.sqrt(14 / 3 + 1e-6));
    pred.set(biased);
    expect(loss(pred, onlyPatch0, true, target)).toBeGreaterThan(1e-2);
  });

  it('has the gradient of the reference with respect to the predictions', () => {
    for (const normPixLoss of [false, true]) {
      const gradient = tf.tidy(() =>
        tf
          .grad((pred: tf.Tensor) =>
            maeLoss(pred as tf.Tensor3D, tf.tensor3d(targetValues, shape), tf.tensor2d(maskValues, [batch, numPatches]), { normPixLoss }),
          )(tf.tensor3d(predValues, shape))
          .dataSync(),
      );
      const [expected] = numericGradient(
        ([pred]) => referenceMaeLoss(pred, targetValues, maskValues, batch, numPatches, patchLength, normPixLoss),
        [predValues],
      );
      expectClose(gradient, expected, { absolute: 1e-5, relative: 1e-3 });
    }
  });

  it('is lowered by a few SGD steps on the predictions', () => {
    const pred = tf.variable(tf.tensor3d(predValues, shape));
    const target = tf.tensor3d(targetValues, shape);
    const mask = tf.tensor2d(maskValues, [batch, numPatches]);
    const { before, after } = lossBeforeAndAfter(() => maeLoss(pred, target, mask, { normPixLoss: true }), [pred], tf.train.sgd(1), 5);
    expect(after).toBeLessThan(before * 0.5);
    tf.dispose([pred, target, mask]);
  });

  it('leaves no tensors behind', () => {
    const pred = tf.tensor3d(predValues, shape);
    const target = tf.tensor3d(targetValues, shape);
    const mask = tf.tensor2d(maskValues, [batch, numPatches]);
    expectNoLeak(() => maeLoss(pred, target, mask, { normPixLoss: true }));
    expectNoLeak(() => tf.grad((x: tf.Tensor) => maeLoss(x as tf.Tensor3D, target, mask, { normPixLoss: true }))(pred));
    tf.dispose([pred, target, mask]);
  });

  it('rejects mismatched shapes and bad options with SslError', () => {
    const pred = tf.zeros(shape) as tf.Tensor3D;
    const otherTarget = tf.zeros([batch, numPatches, patchLength + 1]) as tf.Tensor3D;
    const mask = tf.zeros([batch, numPatches]) as tf.Tensor2D;
    const wrongMask = tf.zeros([batch, numPatches + 1]) as tf.Tensor2D;
    const singleValuePatches = tf.zeros([batch, numPatches, 1]) as tf.Tensor3D;
    expectSslError(() => maeLoss(pred, otherTarget, mask), 'shape-mismatch');
    expect(expectSslError(() => maeLoss(pred, pred, wrongMask), 'shape-mismatch')).toContain(`[${batch}, ${numPatches + 1}]`);
    expectSslError(() => maeLoss(singleValuePatches, singleValuePatches, mask, { normPixLoss: true }), 'shape-mismatch');
    expectSslError(() => maeLoss(pred, pred, mask, { normPixLoss: 'yes' as unknown as boolean }), 'invalid-config');
    tf.dispose([pred, otherTarget, mask, wrongMask, singleValuePatches]);
  });
});
