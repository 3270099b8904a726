// kernels.c's training batch norm keeping no x̂ (SslBatchNormTrainingForwardKeepingInput / ...BackwardFromInput: the
// backward recomputes x̂ from the input) on wasm against batch norm composed of tfjs ops on the cpu backend: values and
// the gradients of x, γ and β; and against the pair that keeps x̂.
import '../../setup';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../select';
import { BATCH_NORM_BACKWARD, BATCH_NORM_BACKWARD_FROM_INPUT, BATCH_NORM_FORWARD, BATCH_NORM_FORWARD_KEEPING_INPUT } from './batch-norm';
import { expectMatchesCpu, randomHost } from './cpu-comparison';

const EPSILON = 1e-5;

/** Batch norm over all axes but the last, through the fused kernels that keep the input (wasm) or tfjs ops (cpu). */
function batchNormHere(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm') {
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(x, axes);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, EPSILON))), gamma), beta);
  }
  const normalize = tf.customGrad(((input: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, mean, , inverseStd] = tf
      .engine()
      .runKernel(BATCH_NORM_FORWARD_KEEPING_INPUT, { x: input, gamma: scale, beta: offset }, { epsilon: EPSILON }) as tf.Tensor[];
    save([input, mean, inverseStd, scale]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedX, savedMean, savedInverseStd, savedGamma] = saved;
        return tf
          .engine()
          .runKernel(
            BATCH_NORM_BACKWARD_FROM_INPUT,
            { dy, x: savedX, mean: savedMean, gamma: savedGamma, inverseStd: savedInverseStd },
            {},
          ) as tf.Tensor[];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return normalize(x, gamma, beta);
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm', log: () => {} });
  await tf.ready();
});

describe('training batch norm keeping the input instead of x̂ (wasm) matches tfjs ops on cpu', () => {
  // Channels with and without a SIMD tail (6, 8); more rows than one 64-row block of the sums.
  const shapes = [
    [7, 6],
    [4, 5, 5, 8],
    [3, 9, 7, 6],
  ];
  for (const shape of shapes) {
    it(`[${shape}]: value and the gradients of x, γ and β`, async () => {
      const channels = shape[shape.length - 1];
      await expectMatchesCpu(`batch norm [${shape}]`, batchNormHere, [
        randomHost(shape, 1),
        randomHost([channels], 2),
        randomHost([channels], 3),
      ]);
    });
  }

  it('gives what the pair keeping x̂ gives (outputs and input gradients)', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor(randomHost([4, 5, 5, 12], 4).values, [4, 5, 5, 12]);
    const gamma = tf.tensor(randomHost([12], 5).values);
    const beta = tf.tensor(randomHost([12], 6).values);
    const dy = tf.tensor(randomHost([4, 5, 5, 12], 7).values, [4, 5, 5, 12]);
    const [y, xHat, mean, variance, inverseStd] = tf
      .engine()
      .runKernel(BATCH_NORM_FORWARD, { x, gamma, beta }, { epsilon: EPSILON }) as tf.Tensor[];
    const keeping = tf.engine().runKernel(BATCH_NORM_FORWARD_KEEPING_INPUT, { x, gamma, beta }, { epsilon: EPSILON }) as tf.Tensor[];
    expect(keeping).toHaveLength(4);
    for (const [ours, theirs] of [
      [keeping[0], y],
      [keeping[1], mean],
      [keeping[2], variance],
      [keeping[3], inverseStd],
    ]) {
      expect(Array.from(ours.dataSync())).toEqual(Array.from(theirs.dataSync()));
    }
    const fromXHat = tf.engine().runKernel(BATCH_NORM_BACKWARD, { dy, xHat, gamma, inverseStd }, {}) as tf.Tensor[];
    const fromInput = tf.engine().runKernel(BATCH_NORM_BACKWARD_FROM_INPUT, { dy, x, mean, gamma, inverseStd }, {}) as tf.Tensor[];
    fromXHat.forEach((expected, i) => {
      const a = fromInput[i].dataSync();
      const b = expected.dataSync();
      let worst = 0;
      let scale = 1;
      for (let j = 0; j < a.length; j++) {
        worst = Math.max(worst, Math.abs(a[j] - b[j]));
        scale = Math.max(scale, Math.abs(b[j]));
      }
      expect(worst / scale, `output ${i}`).toBeLessThan(1e-5);
    });
    tf.dispose([x, gamma, beta, dy, y, xHat, mean, variance, inverseStd, ...keeping, ...fromXHat, ...fromInput]);
  });
});
