import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { skipGramNegativeSamplingLoss } from './skip-gram';
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

/** Mikolov et al. 2013 eq. 4 with loops, negated and averaged over pairs: −[log σ(v'_o·v_c) + Σ_k log σ(−v'_k·v_c)]; float64. */
function referenceSkipGram(
  centers: ArrayLike<number>,
  contexts: ArrayLike<number>,
  negatives: ArrayLike<number>,
  pairs: number,
  noise: number,
  d: number,
): number {
  const logSigmoid = (x: number) => Math.log(1 / (1 + Math.exp(-x)));
  let total = 0;
  for (let p = 0; p < pairs; p++) {
    let positive = 0;
    for (let c = 0; c < d; c++) positive += contexts[p * d + c] * centers[p * d + c];
    let objective = logSigmoid(positive);
    for (let k = 0; k < noise; k++) {
      let negative = 0;
      for (let c = 0; c < d; c++) negative += negatives[(p * noise + k) * d + c] * centers[p * d + c];
      objective += logSigmoid(-negative);
    }
    total -= objective;
  }
  return total / pairs;
}

describe('skipGramNegativeSamplingLoss', () => {
  beforeAll(useCpuBackend);
  const pairs = 3;
  const noise = 4;
  const d = 5;
  const rng = new Random(7);
  const centerValues = randomValues(rng, pairs * d);
  const contextValues = randomValues(rng, pairs * d);
  const negativeValues = randomValues(rng, pairs * noise * d);
  const loss = (centers: Float32Array, contexts: Float32Array, negatives: Float32Array, rows = pairs, k = noise) =>
    tf.tidy(
      () =>
        skipGramNegativeSamplingLoss(
          tf.tensor2d(centers, [rows, d]),
          tf.tensor2d(contexts, [rows, d]),
          tf.tensor3d(negatives, [rows, k, d]),
        ).dataSync()[0],
    );

  it('equals the plain-loop eq. 4, also for scores large enough that a naive log σ would overflow', () => {
    expectClose(
      loss(centerValues, contextValues, negativeValues),
      referenceSkipGram(centerValues, contextValues, negativeValues, pairs, noise, d),
      {
        relative: 1e-5,
      },
    );
    const big = centerValues.map((v) => v * 6);
    const value = loss(
      big,
      contextValues.map((v) => v * 6),
      negativeValues.map((v) => v * 6),
    );
    expect(Number.isFinite(value)).toBe(true);
    expectClose(
      value,
      referenceSkipGram(
        big,
        contextValues.map((v) => v * 6),
        negativeValues.map((v) => v * 6),
        pairs,
        noise,
        d,
      ),
      { relative: 1e-4 },
    );
  });

  it("is K·log 2 + log 2 when every score is 0 (word2vec's start: output vectors at zero)", () => {
    expectClose(loss(centerValues, new Float32Array(pairs * d), new Float32Array(pairs * noise * d)), (noise + 1) * Math.log(2), {
      relative: 1e-6,
    });
  });

  it('is the mean of the per-pair losses', () => {
    const perPair = [0, 1, 2].map((p) =>
      loss(
        centerValues.slice(p * d, (p + 1) * d),
        contextValues.slice(p * d, (p + 1) * d),
        negativeValues.slice(p * noise * d, (p + 1) * noise * d),
        1,
      ),
    );
    expectClose(loss(centerValues, contextValues, negativeValues), (perPair[0] + perPair[1] + perPair[2]) / 3, { relative: 1e-6 });
  });

  it('has the gradient of the reference for the centre, context and noise vectors', () => {
    const gradients = tf.tidy(() =>
      tf
        .grads((centers: tf.Tensor, contexts: tf.Tensor, negatives: tf.Tensor) =>
          skipGramNegativeSamplingLoss(centers as tf.Tensor2D, contexts as tf.Tensor2D, negatives as tf.Tensor3D),
        )([tf.tensor2d(centerValues, [pairs, d]), tf.tensor2d(contextValues, [pairs, d]), tf.tensor3d(negativeValues, [pairs, noise, d])])
        .map((g) => g.dataSync()),
    );
    const expected = numericGradient(
      ([centers, contexts, negatives]) => referenceSkipGram(centers, contexts, negatives, pairs, noise, d),
      [centerValues, contextValues, negativeValues],
    );
    for (let input = 0; input < 3; input++) expectClose(gradients[input], expected[input], { absolute: 2e-5, relative: 1e-3 });
  });

  it('is lowered by a few Adam steps on the centre vectors', () => {
    const centers = tf.variable(tf.tensor2d(centerValues, [pairs, d]));
    const contexts = tf.tensor2d(contextValues, [pairs, d]);
    const negatives = tf.tensor3d(negativeValues, [pairs, noise, d]);
    const { before, after } = lossBeforeAndAfter(
      () => skipGramNegativeSamplingLoss(centers, contexts, negatives),
      [centers],
      tf.train.adam(0.05),
      10,
    );
    expect(after).toBeLessThan(before - 0.1);
    tf.dispose([centers, contexts, negatives]);
  });

  it('refuses mismatched shapes and leaves no tensors behind', () => {
    expectSslError(
      () =>
        tf.tidy(() =>
          skipGramNegativeSamplingLoss(
            tf.zeros([3, 5]) as tf.Tensor2D,
            tf.zeros([2, 5]) as tf.Tensor2D,
            tf.zeros([3, 4, 5]) as tf.Tensor3D,
          ),
        ),
      'shape-mismatch',
    );
    const centers = tf.tensor2d(centerValues, [pairs, d]);
    const contexts = tf.tensor2d(contextValues, [pairs, d]);
    const negatives = tf.tensor3d(negativeValues, [pairs, noise, d]);
    expectNoLeak(() => skipGramNegativeSamplingLoss(centers, contexts, negatives));
    tf.dispose([centers, contexts, negatives]);
  });
});
