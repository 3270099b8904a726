import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { swavLoss } from './swav';
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

const batch = 4;
const prototypes = 3;

/** The reference's distributed_sinkhorn (one process) on rows × K scores, in plain loops, float64. */
function referenceCodes(scores: ArrayLike<number>, rows: number, epsilon: number, iterations: number): number[][] {
  // q[k][b] = exp(s_bk / ε), as the reference's K-by-B matrix.
  const q = Array.from({ length: prototypes }, (_, k) =>
    Array.from({ length: rows }, (_, b) => Math.exp(scores[b * prototypes + k] / epsilon)),
  );
  let total = 0;
  for (const row of q) for (const v of row) total += v;
  for (const row of q) for (let b = 0; b < rows; b++) row[b] /= total;
  for (let it = 0; it < iterations; it++) {
    for (const row of q) {
      const sum = row.reduce((a, v) => a + v, 0);
      for (let b = 0; b < rows; b++) row[b] /= sum * prototypes;
    }
    for (let b = 0; b < rows; b++) {
      let sum = 0;
      for (let k = 0; k < prototypes; k++) sum += q[k][b];
      for (let k = 0; k < prototypes; k++) q[k][b] /= sum * rows;
    }
  }
  return Array.from({ length: rows }, (_, b) => Array.from({ length: prototypes }, (_, k) => q[k][b] * rows));
}

/**
 * SwAV's `train` loop in plain loops: for each high-resolution crop i (crops_for_assign), codes from its
 * scores (after the queue's, keeping the last B rows), then −mean Σ q log softmax(s_v / τ) over every other
 * crop v, divided by (V − 1); the total divided by the number of high-resolution crops.
 */
function referenceSwav(
  high: ArrayLike<number>[],
  low: ArrayLike<number>[],
  temperature: number,
  epsilon: number,
  iterations: number,
  queue: ArrayLike<number>[] = [],
): number {
  const crops = [...high, ...low];
  const logSoftmaxRow = (crop: ArrayLike<number>, b: number) => {
    const values = Array.from({ length: prototypes }, (_, k) => crop[b * prototypes + k] / temperature);
    const max = Math.max(...values);
    const logSum = max + Math.log(values.reduce((a, v) => a + Math.exp(v - max), 0));
    return values.map((v) => v - logSum);
  };
  let loss = 0;
  high.forEach((scores, i) => {
    const queued = queue[i] ?? [];
    const queuedRows = queued.length / prototypes;
    const all = [...Array.from(queued), ...Array.from(scores)];
    const codes = referenceCodes(all, queuedRows + batch, epsilon, iterations).slice(queuedRows);
    let subloss = 0;
    crops.forEach((crop, v) => {
      if (v === i) return;
      for (let b = 0; b < batch; b++) {
        const logP = logSoftmaxRow(crop, b);
        for (let k = 0; k < prototypes; k++) subloss -= (codes[b][k] * logP[k]) / batch;
      }
    });
    loss += subloss / (crops.length - 1);
  });
  return loss / high.length;
}

describe('swavLoss', () => {
  beforeAll(useCpuBackend);
  const rng = new Random(31);
  // Cosine-like scores in [-1, 1], as z·Cᵀ with unit z and unit prototypes.
  const cosines = () => randomValues(rng, batch * prototypes, 0.5).map((v) => Math.max(-1, Math.min(1, v)));
  const highValues = [cosines(), cosines()];
  const lowValues = [cosines(), cosines(), cosines()];
  const queueValues = [0, 1].map(() => randomValues(rng, 5 * prototypes, 0.5).map((v) => Math.max(-1, Math.min(1, v))));
  const toTensors = (values: Float32Array[], rows = batch) => values.map((v) => tf.tensor2d(v, [rows, prototypes]));

  it('equals the plain-loop reference (τ 0.1, ε 0.05, 3 iterations) and with other settings, with and without low-resolution crops', () => {
    const cases: Array<[Float32Array[], Float32Array[], { temperature: number; epsilon: number; iterations: number }]> = [
      [highValues, lowValues, { temperature: 0.1, epsilon: 0.05, iterations: 3 }],
      [highValues, [], { temperature: 0.1, epsilon: 0.05, iterations: 3 }],
      [highValues.slice(0, 1), lowValues, { temperature: 0.5, epsilon: 0.3, iterations: 1 }],
    ];
    for (const [high, low, options] of cases) {
      const value = tf.tidy(() => swavLoss(toTensors(high), toTensors(low), options).dataSync()[0]);
      expectClose(value, referenceSwav(high, low, options.temperature, options.epsilon, options.iterations), { relative: 1e-4 });
    }
    // The defaults are the paper's.
    const defaults = tf.tidy(() => swavLoss(toTensors(highValues), toTensors(lowValues)).dataSync()[0]);
    expectClose(defaults, referenceSwav(highValues, lowValues, 0.1, 0.05, 3), { relative: 1e-4 });
  });

  it('with a queue, takes the equal partition over queue + batch and keeps the batch’s codes', () => {
    const options = { temperature: 0.1, epsilon: 0.05, iterations: 3 };
    const [withQueue, without] = tf.tidy(() => [
      swavLoss(toTensors(highValues), toTensors(lowValues), { ...options, queueScores: toTensors(queueValues, 5) }).dataSync()[0],
      swavLoss(toTensors(highValues), toTensors(lowValues), options).dataSync()[0],
    ]);
    expectClose(withQueue, referenceSwav(highValues, lowValues, 0.1, 0.05, 3, queueValues), { relative: 1e-4 });
    expect(Math.abs(withQueue - without)).toBeGreaterThan(1e-3);
  });

  it('has the reference gradient through the predictions only (the codes are stop-gradient targets)', () => {
    const options = { temperature: 0.1, epsilon: 0.05, iterations: 3 };
    const all = [...highValues, ...lowValues.slice(0, 1)];
    const gradients = tf.tidy(() =>
      tf
        .grads((h0: tf.Tensor, h1: tf.Tensor, l0: tf.Tensor) => swavLoss([h0, h1] as tf.Tensor2D[], [l0] as tf.Tensor2D[], options))(
          toTensors(all),
        )
        .map((g) => g.dataSync()),
    );
    // Reference gradient with the codes held fixed at their value (sg): differentiate the predictions only.
    const fixedCodes = highValues.map((scores) => referenceCodes(scores, batch, 0.05, 3));
    const predictionLoss = (crops: Float64Array[]) => {
      let loss = 0;
      fixedCodes.forEach((codes, i) => {
        let subloss = 0;
        crops.forEach((crop, v) => {
          if (v === i) return;
          for (let b = 0; b < batch; b++) {
            const values = Array.from({ length: prototypes }, (_, k) => crop[b * prototypes + k] / 0.1);
            const max = Math.max(...values);
            const logSum = max + Math.log(values.reduce((a, x) => a + Math.exp(x - max), 0));
            for (let k = 0; k < prototypes; k++) subloss -= (codes[b][k] * (values[k] - logSum)) / batch;
          }
        });
        loss += subloss / (crops.length - 1);
      });
      return loss / fixedCodes.length;
    };
    const expected = numericGradient(predictionLoss, all);
    for (let crop = 0; crop < 3; crop++) expectClose(gradients[crop], expected[crop], { absolute: 1e-4, relative: 1e-3 });
  });

  it('is lowered by a few SGD steps on the scores', () => {
    const high = toTensors(highValues).map((t) => tf.variable(t));
    const low = toTensors(lowValues).map((t) => tf.variable(t));
    const { before, after } = lossBeforeAndAfter(() => swavLoss(high, low), [...high, ...low], tf.train.sgd(0.01), 10);
    expect(after).toBeLessThan(before - 0.05);
    tf.dispose([...high, ...low]);
  });

  it('leaves no tensors behind', () => {
    const high = toTensors(highValues);
    const low = toTensors(lowValues);
    const queue = toTensors(queueValues, 5);
    expectNoLeak(() => swavLoss(high, low));
    expectNoLeak(() => swavLoss(high, low, { queueScores: queue }));
    expectNoLeak(() => tf.grads((h0: tf.Tensor) => swavLoss([h0 as tf.Tensor2D, high[1]], low))([high[0]]));
    tf.dispose([...high, ...low, ...queue]);
  });

  it('rejects bad crops, queues and options with SslError', () => {
    const high = toTensors(highValues);
    const low = toTensors(lowValues);
    const wrong = tf.zeros([batch, prototypes + 1]) as tf.Tensor2D;
    const wrongQueue = tf.zeros([5, prototypes + 1]) as tf.Tensor2D;
    expectSslError(() => swavLoss([high[0]], []), 'shape-mismatch');
    expectSslError(() => swavLoss([], low), 'shape-mismatch');
    expect(expectSslError(() => swavLoss(high, [...low, wrong]), 'shape-mismatch')).toContain('lowResolutionScores[3]');
    expectSslError(() => swavLoss(high, low, { queueScores: [high[0]] }), 'shape-mismatch');
    expect(expectSslError(() => swavLoss(high, low, { queueScores: [wrongQueue, wrongQueue] }), 'shape-mismatch')).toContain(
      'queueScores[0]',
    );
    expectSslError(() => swavLoss(high, low, { temperature: 0 }), 'invalid-config');
    expectSslError(() => swavLoss(high, low, { epsilon: -1 }), 'invalid-config');
    tf.dispose([...high, ...low, wrong, wrongQueue]);
  });
});
