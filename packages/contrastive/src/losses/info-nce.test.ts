import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { infoNceLoss } from './info-nce';
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

/** MoCo eq. 1 with loops: q, k normalized, queue as given, target index 0; float64. */
function referenceInfoNce(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  queue: ArrayLike<number>,
  n: number,
  queueSize: number,
  d: number,
  temperature: number,
): number {
  const normalizedRow = (values: ArrayLike<number>, row: number) => {
    let squaredNorm = 0;
    for (let c = 0; c < d; c++) squaredNorm += values[row * d + c] ** 2;
    const norm = Math.sqrt(Math.max(squaredNorm, 1e-12));
    return Array.from({ length: d }, (_, c) => values[row * d + c] / norm);
  };
  let total = 0;
  for (let i = 0; i < n; i++) {
    const query = normalizedRow(q, i);
    const key = normalizedRow(k, i);
    const logits: number[] = [];
    let positive = 0;
    for (let c = 0; c < d; c++) positive += query[c] * key[c];
    logits.push(positive / temperature);
    for (let j = 0; j < queueSize; j++) {
      let negative = 0;
      for (let c = 0; c < d; c++) negative += query[c] * queue[j * d + c];
      logits.push(negative / temperature);
    }
    let denominator = 0;
    for (const logit of logits) denominator += Math.exp(logit);
    total += Math.log(denominator) - logits[0];
  }
  return total / n;
}

describe('infoNceLoss', () => {
  beforeAll(useCpuBackend);
  const n = 3;
  const d = 4;
  const queueSize = 5;
  const rng = new Random(11);
  const qValues = randomValues(rng, n * d);
  const kValues = randomValues(rng, n * d);
  // Deliberately not unit rows: the queue must be used exactly as given.
  const queueValues = randomValues(rng, queueSize * d, 0.7);
  const loss = (q: Float32Array, k: Float32Array, queue: Float32Array, rows = n, temperature = 0.2) =>
    tf.tidy(
      () =>
        infoNceLoss(tf.tensor2d(q, [rows, d]), tf.tensor2d(k, [rows, d]), tf.tensor2d(queue, [queue.length / d, d]), {
          temperature,
        }).dataSync()[0],
    );

  it('equals the plain-loop MoCo eq. 1', () => {
    for (const temperature of [0.07, 0.2, 1]) {
      expectClose(
        loss(qValues, kValues, queueValues, n, temperature),
        referenceInfoNce(qValues, kValues, queueValues, n, queueSize, d, temperature),
        {
          relative: 1e-5,
        },
      );
    }
  });

  it('matches the closed form on orthonormal vectors', () => {
    // q = k = e0, queue = {e1, e2}: ℓ = log(e^{1/τ} + 2) − 1/τ.
    const q = new Float32Array([1, 0, 0, 0]);
    const queue = new Float32Array([0, 1, 0, 0, 0, 0, 1, 0]);
    expectClose(loss(q, q, queue, 1, 0.5), Math.log(Math.exp(2) + 2) - 2, { relative: 1e-6 });
  });

  it('takes negatives only from the queue: the batch loss is the mean of per-query losses', () => {
    const perQuery = [0, 1, 2].map((i) => loss(qValues.slice(i * d, (i + 1) * d), kValues.slice(i * d, (i + 1) * d), queueValues, 1));
    expectClose(loss(qValues, kValues, queueValues), (perQuery[0] + perQuery[1] + perQuery[2]) / 3, { relative: 1e-6 });
  });

  it('normalizes q and k but not the queue', () => {
    expectClose(
      loss(
        qValues.map((v) => v * 4),
        kValues.map((v) => v * 0.1),
        queueValues,
      ),
      loss(qValues, kValues, queueValues),
      { relative: 1e-5 },
    );
    expect(
      Math.abs(
        loss(
          qValues,
          kValues,
          queueValues.map((v) => v * 3),
        ) - loss(qValues, kValues, queueValues),
      ),
    ).toBeGreaterThan(1e-2);
  });

  it('has the gradient of the reference for q, k and the queue', () => {
    const temperature = 0.3;
    const gradients = tf.tidy(() =>
      tf
        .grads((q: tf.Tensor, k: tf.Tensor, queue: tf.Tensor) =>
          infoNceLoss(q as tf.Tensor2D, k as tf.Tensor2D, queue as tf.Tensor2D, { temperature }),
        )([tf.tensor2d(qValues, [n, d]), tf.tensor2d(kValues, [n, d]), tf.tensor2d(queueValues, [queueSize, d])])
        .map((g) => g.dataSync()),
    );
    const expected = numericGradient(
      ([q, k, queue]) => referenceInfoNce(q, k, queue, n, queueSize, d, temperature),
      [qValues, kValues, queueValues],
    );
    for (let input = 0; input < 3; input++) expectClose(gradients[input], expected[input], { absolute: 2e-5, relative: 1e-3 });
  });

  it('is lowered by a few Adam steps on the queries', () => {
    const q = tf.variable(tf.tensor2d(qValues, [n, d]));
    const k = tf.tensor2d(kValues, [n, d]);
    const queue = tf.tensor2d(queueValues, [queueSize, d]);
    const { before, after } = lossBeforeAndAfter(() => infoNceLoss(q, k, queue, { temperature: 0.2 }), [q], tf.train.adam(0.05), 10);
    expect(after).toBeLessThan(before - 0.1);
    tf.dispose([q, k, queue]);
  });

  it('leaves no tensors behind', () => {
    const q = tf.tensor2d(qValues, [n, d]);
    const k = tf.tensor2d(kValues, [n, d]);
    const queue = tf.tensor2d(queueValues, [queueSize, d]);
    expectNoLeak(() => infoNceLoss(q, k, queue, { temperature: 0.2 }));
    expectNoLeak(() => tf.grads((x: tf.Tensor) => infoNceLoss(x as tf.Tensor2D, k, queue, { temperature: 0.2 }))([q]));
    tf.dispose([q, k, queue]);
  });

  it('rejects bad shapes and temperatures with SslError', () => {
    const q = tf.zeros([3, 4]) as tf.Tensor2D;
    const k = tf.zeros([2, 4]) as tf.Tensor2D;
    const wrongWidthQueue = tf.zeros([5, 3]) as tf.Tensor2D;
    const emptyQueue = tf.zeros([0, 4]) as tf.Tensor2D;
    const queue1d = tf.zeros([4]);
    expectSslError(() => infoNceLoss(q, k, q, { temperature: 0.2 }), 'shape-mismatch');
    expect(expectSslError(() => infoNceLoss(q, q, wrongWidthQueue, { temperature: 0.2 }), 'shape-mismatch')).toContain('[5, 3]');
    expectSslError(() => infoNceLoss(q, q, emptyQueue, { temperature: 0.2 }), 'shape-mismatch');
    expectSslError(() => infoNceLoss(q, q, queue1d as unknown as tf.Tensor2D, { temperature: 0.2 }), 'shape-mismatch');
    expectSslError(() => infoNceLoss(q, q, q, { temperature: 0 }), 'invalid-config');
    tf.dispose([q, k, wrongWidthQueue, emptyQueue, queue1d]);
  });
});
