import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { negativeCosineSimilarity } from './negative-cosine-similarity';
import { stopGradient } from '@ssl/core';
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

/** −mean_i cos(p_i, z_i) with loops, float64. */
function referenceNegativeCosine(p: ArrayLike<number>, z: ArrayLike<number>, n: number, d: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    let dot = 0;
    let pSquared = 0;
    let zSquared = 0;
    for (let c = 0; c < d; c++) {
      dot += p[i * d + c] * z[i * d + c];
      pSquared += p[i * d + c] ** 2;
      zSquared += z[i * d + c] ** 2;
    }
    total += dot / (Math.sqrt(Math.max(pSquared, 1e-12)) * Math.sqrt(Math.max(zSquared, 1e-12)));
  }
  return -total / n;
}

describe('negativeCosineSimilarity', () => {
  beforeAll(useCpuBackend);
  const n = 4;
  const d = 5;
  const rng = new Random(3);
  const pValues = randomValues(rng, n * d);
  const zValues = randomValues(rng, n * d);
  const loss = (p: ArrayLike<number>, z: ArrayLike<number>) =>
    tf.tidy(
      () => negativeCosineSimilarity(tf.tensor2d(Float32Array.from(p), [n, d]), tf.tensor2d(Float32Array.from(z), [n, d])).dataSync()[0],
    );

  it('equals the plain-loop −mean cosine', () => {
    expectClose(loss(pValues, zValues), referenceNegativeCosine(pValues, zValues, n, d), { relative: 1e-5 });
  });

  it('is −1 for aligned pairs and +1 for opposite pairs, scale-invariant and symmetric', () => {
    expectClose(
      loss(
        pValues,
        pValues.map((v) => v * 3),
      ),
      -1,
      { absolute: 1e-6 },
    );
    expectClose(
      loss(
        pValues,
        pValues.map((v) => -v * 0.2),
      ),
      1,
      { absolute: 1e-6 },
    );
    expectClose(
      loss(
        pValues.map((v) => v * 9),
        zValues,
      ),
      loss(pValues, zValues),
      { relative: 1e-5 },
    );
    expectClose(loss(zValues, pValues), loss(pValues, zValues), { relative: 1e-6 });
  });

  it('has the gradient of the reference for both inputs', () => {
    const gradients = tf.tidy(() =>
      tf
        .grads((p: tf.Tensor, z: tf.Tensor) => negativeCosineSimilarity(p as tf.Tensor2D, z as tf.Tensor2D))([
          tf.tensor2d(pValues, [n, d]),
          tf.tensor2d(zValues, [n, d]),
        ])
        .map((g) => g.dataSync()),
    );
    const expected = numericGradient(([p, z]) => referenceNegativeCosine(p, z, n, d), [pValues, zValues]);
    expectClose(gradients[0], expected[0], { absolute: 1e-5, relative: 1e-3 });
    expectClose(gradients[1], expected[1], { absolute: 1e-5, relative: 1e-3 });
  });

  it('lets the caller stop the gradient into z (SimSiam eq. 3)', () => {
    const gradZ = tf.tidy(() =>
      tf
        .grad((z: tf.Tensor) => negativeCosineSimilarity(tf.tensor2d(pValues, [n, d]), stopGradient(z as tf.Tensor2D)))(
          tf.tensor2d(zValues, [n, d]),
        )
        .dataSync(),
    );
    expect(Array.from(gradZ).every((g) => g === 0)).toBe(true);
  });

  it('is lowered by a few SGD steps on the predictions', () => {
    const p = tf.variable(tf.tensor2d(pValues, [n, d]));
    const z = tf.tensor2d(zValues, [n, d]);
    const { before, after } = lossBeforeAndAfter(() => negativeCosineSimilarity(p, z), [p], tf.train.sgd(1), 10);
    expect(after).toBeLessThan(before - 0.1);
    tf.dispose([p, z]);
  });

  it('leaves no tensors behind', () => {
    const p = tf.tensor2d(pValues, [n, d]);
    const z = tf.tensor2d(zValues, [n, d]);
    expectNoLeak(() => negativeCosineSimilarity(p, z));
    expectNoLeak(() => tf.grads((x: tf.Tensor) => negativeCosineSimilarity(x as tf.Tensor2D, z))([p]));
    tf.dispose([p, z]);
  });

  it('rejects mismatched shapes and non-float inputs with SslError', () => {
    const p = tf.zeros([4, 5]) as tf.Tensor2D;
    const z = tf.zeros([4, 6]) as tf.Tensor2D;
    const ints = tf.zeros([4, 5], 'int32') as tf.Tensor2D;
    expect(expectSslError(() => negativeCosineSimilarity(p, z), 'shape-mismatch')).toContain('[4, 6]');
    expectSslError(() => negativeCosineSimilarity(tf.zeros([4]) as unknown as tf.Tensor2D, p), 'shape-mismatch');
    expectSslError(() => negativeCosineSimilarity(p, ints), 'dtype-mismatch');
    tf.dispose([p, z, ints]);
  });
});
