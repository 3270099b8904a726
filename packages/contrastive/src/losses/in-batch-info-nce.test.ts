import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { inBatchInfoNceLoss } from './in-batch-info-nce';
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

/** −(1/N) Σ_i log softmax_j(q̂_i·k̂_j/τ)[i], with loops, in float64. */
function referenceInBatchInfoNce(q: ArrayLike<number>, k: ArrayLike<number>, n: number, d: number, temperature: number): number {
  const unit = (values: ArrayLike<number>, row: number) => {
    let squaredNorm = 0;
    for (let c = 0; c < d; c++) squaredNorm += values[row * d + c] ** 2;
    const norm = Math.sqrt(Math.max(squaredNorm, 1e-12));
    return Array.from({ length: d }, (_, c) => values[row * d + c] / norm);
  };
  let total = 0;
  for (let i = 0; i < n; i++) {
    const query = unit(q, i);
    const logits: number[] = [];
    for (let j = 0; j < n; j++) {
      const key = unit(k, j);
      let dot = 0;
      for (let c = 0; c < d; c++) dot += query[c] * key[c];
      logits.push(dot / temperature);
    }
    let denominator = 0;
    for (const logit of logits) denominator += Math.exp(logit);
    total += Math.log(denominator) - logits[i];
  }
  return total / n;
}

describe('inBatchInfoNceLoss', () => {
  beforeAll(useCpuBackend);
  const n = 4;
  const d = 3;
  const rng = new Random(5);
  const qValues = randomValues(rng, n * d);
  const kValues = randomValues(rng, n * d);
  const loss = (q: Float32Array, k: Float32Array, temperature = 0.2, rows = n) =>
    tf.tidy(() => inBatchInfoNceLoss(tf.tensor2d(q, [rows, d]), tf.tensor2d(k, [rows, d]), { temperature }).dataSync()[0]);

  it('equals the plain-loop reference', () => {
    for (const temperature of [0.1, 0.2, 1]) {
      expectClose(loss(qValues, kValues, temperature), referenceInBatchInfoNce(qValues, kValues, n, d, temperature), { relative: 1e-5 });
    }
  });

  it('is log N for identical rows and about 0 for orthonormal matched pairs at a low temperature', () => {
    const same = new Float32Array(n * d).fill(1);
    expectClose(loss(same, same), Math.log(n), { relative: 1e-6 });
    const basis = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(loss(basis, basis, 0.01, 3)).toBeLessThan(1e-6);
  });

  it('is invariant to the scale of rows and to permuting the pairs together', () => {
    expectClose(
      loss(
        qValues.map((v) => v * 3),
        kValues.map((v) => v * 0.2),
      ),
      loss(qValues, kValues),
      { relative: 1e-5 },
    );
    const permute = (values: Float32Array) =>
      Float32Array.from([2, 0, 3, 1].flatMap((row) => Array.from(values.slice(row * d, (row + 1) * d))));
    expectClose(loss(permute(qValues), permute(kValues)), loss(qValues, kValues), { relative: 1e-5 });
  });

  it('has the gradient of the reference for queries and keys', () => {
    const temperature = 0.3;
    const gradients = tf.tidy(() =>
      tf
        .grads((q: tf.Tensor, k: tf.Tensor) => inBatchInfoNceLoss(q as tf.Tensor2D, k as tf.Tensor2D, { temperature }))([
          tf.tensor2d(qValues, [n, d]),
          tf.tensor2d(kValues, [n, d]),
        ])
        .map((g) => g.dataSync()),
    );
    const expected = numericGradient(([q, k]) => referenceInBatchInfoNce(q, k, n, d, temperature), [qValues, kValues]);
    for (let input = 0; input < 2; input++) expectClose(gradients[input], expected[input], { absolute: 2e-5, relative: 1e-3 });
  });

  it('is lowered by a few Adam steps on the queries', () => {
    const q = tf.variable(tf.tensor2d(qValues, [n, d]));
    const k = tf.tensor2d(kValues, [n, d]);
    const { before, after } = lossBeforeAndAfter(() => inBatchInfoNceLoss(q, k, { temperature: 0.2 }), [q], tf.train.adam(0.05), 10);
    expect(after).toBeLessThan(before - 0.1);
    tf.dispose([q, k]);
  });

  it('leaves no tensors behind and rejects bad inputs with SslError', () => {
    const q = tf.tensor2d(qValues, [n, d]);
    const k = tf.tensor2d(kValues, [n, d]);
    expectNoLeak(() => inBatchInfoNceLoss(q, k, { temperature: 0.2 }));
    expectNoLeak(() => tf.grads((x: tf.Tensor) => inBatchInfoNceLoss(x as tf.Tensor2D, k, { temperature: 0.2 }))([q]));
    const short = tf.zeros([2, d]) as tf.Tensor2D;
    expectSslError(() => inBatchInfoNceLoss(q, short, { temperature: 0.2 }), 'shape-mismatch');
    expectSslError(() => inBatchInfoNceLoss(q, k, { temperature: 0 }), 'invalid-config');
    tf.dispose([q, k, short]);
  });
});
