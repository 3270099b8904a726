import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { guessLabels } from './guess-labels';
import { expectClose, expectNoLeak, expectSslError, useCpuBackend } from '@ssl/test-utils';

describe('guessLabels', () => {
  beforeAll(useCpuBackend);
  const views = [
    [
      [0.6, 0.3, 0.1],
      [0.2, 0.2, 0.6],
    ],
    [
      [0.4, 0.5, 0.1],
      [0.1, 0.3, 0.6],
    ],
  ];

  it('sharpens the mean over the K augmentations (plain loops), and passes no gradient', () => {
    const guess = tf.tidy(() => guessLabels(views.map((v) => tf.tensor2d(v)) as tf.Tensor2D[], 0.5).arraySync());
    for (let b = 0; b < 2; b++) {
      const mean = [0, 1, 2].map((c) => (views[0][b][c] + views[1][b][c]) / 2);
      const powered = mean.map((v) => v ** 2);
      const sum = powered.reduce((a, v) => a + v, 0);
      expectClose(Float32Array.from(guess[b]), Float64Array.from(powered.map((v) => v / sum)), { relative: 1e-5 });
    }
    const gradient = tf.tidy(() =>
      tf
        .grad((p: tf.Tensor) => tf.sum(guessLabels([p as tf.Tensor2D], 0.5)))(tf.tensor2d(views[0]))
        .dataSync(),
    );
    expect(Array.from(gradient).every((g) => g === 0)).toBe(true);
  });

  it('leaves no tensors behind and rejects mismatched views', () => {
    const [a, b] = views.map((v) => tf.tensor2d(v));
    const short = tf.tensor2d([[0.5, 0.5, 0]]);
    expectNoLeak(() => guessLabels([a, b], 0.5));
    expectSslError(() => guessLabels([a, short], 0.5), 'shape-mismatch');
    expectSslError(() => guessLabels([], 0.5), 'shape-mismatch');
    tf.dispose([a, b, short]);
  });
});
