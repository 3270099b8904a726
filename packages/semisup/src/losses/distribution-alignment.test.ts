import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { distributionAlignment } from './distribution-alignment';
import { expectClose, expectNoLeak, expectSslError, useCpuBackend } from '@ssl/test-utils';

describe('distributionAlignment', () => {
  beforeAll(useCpuBackend);
  const p = [
    [0.7, 0.2, 0.1],
    [0.1, 0.6, 0.3],
  ];
  const model = [0.5, 0.3, 0.2];
  const target = [1 / 3, 1 / 3, 1 / 3];

  it('equals Normalize(q · p(y) / p̃(y)) computed in loops, and is the identity when p̃ = p', () => {
    const aligned = tf.tidy(() => distributionAlignment(tf.tensor2d(p), tf.tensor1d(model), tf.tensor1d(target)).arraySync());
    p.forEach((row, b) => {
      const scaled = row.map((v, c) => (v * (target[c] + 1e-6)) / (model[c] + 1e-6));
      const sum = scaled.reduce((a, v) => a + v, 0);
      expectClose(Float32Array.from(aligned[b]), Float64Array.from(scaled.map((v) => v / sum)), { relative: 1e-5 });
    });
    // The over-predicted class 0 loses mass, the under-predicted class 2 gains it.
    expect(aligned[0][0]).toBeLessThan(p[0][0]);
    expect(aligned[0][2]).toBeGreaterThan(p[0][2]);
    const identity = tf.tidy(() => distributionAlignment(tf.tensor2d(p), tf.tensor1d(target), tf.tensor1d(target)).dataSync());
    expectClose(identity, Float64Array.from(p.flat()), { relative: 1e-6 });
  });

  it('leaves no tensors behind and rejects a marginal of the wrong length', () => {
    const probabilities = tf.tensor2d(p);
    const marginal = tf.tensor1d(model);
    const short = tf.tensor1d([0.5, 0.5]);
    expectNoLeak(() => distributionAlignment(probabilities, marginal, marginal));
    expectSslError(() => distributionAlignment(probabilities, short, marginal), 'shape-mismatch');
    tf.dispose([probabilities, marginal, short]);
  });
});
