import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { gatherTokens } from './gather-tokens';
import { Random, expectNoLeak, expectSslError, randomValues, useCpuBackend } from '@ssl/test-utils';

describe('gatherTokens', () => {
  beforeAll(useCpuBackend);
  const [batch, length, width] = [3, 5, 2];
  const rng = new Random(37);
  const tokenValues = randomValues(rng, batch * length * width);
  // Repeated indices check that the backward pass accumulates.
  const indexValues = [4, 0, 4, 1, 1, 2, 0, 3, 3];
  const count = 3;

  it('picks tokens[n, indices[n, k]] for every sample', () => {
    const [out, shape] = tf.tidy(() => {
      const gathered = gatherTokens(tf.tensor3d(tokenValues, [batch, length, width]), tf.tensor2d(indexValues, [batch, count], 'int32'));
      return [gathered.dataSync(), gathered.shape];
    });
    expect(shape).toEqual([batch, count, width]);
    for (let n = 0; n < batch; n++)
      for (let k = 0; k < count; k++)
        for (let c = 0; c < width; c++) {
          expect(out[(n * count + k) * width + c]).toBe(tokenValues[(n * length + indexValues[n * count + k]) * width + c]);
        }
  });

  it('has the scatter-add gradient with respect to the tokens', () => {
    const weightValues = randomValues(rng, batch * count * width);
    const gradient = tf.tidy(() =>
      tf
        .grad((tokens: tf.Tensor) =>
          tf.sum(
            tf.mul(
              gatherTokens(tokens as tf.Tensor3D, tf.tensor2d(indexValues, [batch, count], 'int32')),
              tf.tensor3d(weightValues, [batch, count, width]),
            ),
          ),
        )(tf.tensor3d(tokenValues, [batch, length, width]))
        .dataSync(),
    );
    const expected = new Float64Array(batch * length * width);
    for (let n = 0; n < batch; n++)
      for (let k = 0; k < count; k++)
        for (let c = 0; c < width; c++)
          expected[(n * length + indexValues[n * count + k]) * width + c] += weightValues[(n * count + k) * width + c];
    for (let i = 0; i < expected.length; i++) expect(gradient[i]).toBeCloseTo(expected[i], 6);
  });

  it('leaves no tensors behind', () => {
    const tokens = tf.tensor3d(tokenValues, [batch, length, width]);
    const indices = tf.tensor2d(indexValues, [batch, count], 'int32');
    expectNoLeak(() => gatherTokens(tokens, indices));
    expectNoLeak(() => tf.grad((x: tf.Tensor) => tf.sum(gatherTokens(x as tf.Tensor3D, indices)))(tokens));
    tf.dispose([tokens, indices]);
  });

  it('rejects float indices, batch mismatches and wrong ranks with SslError', () => {
    const tokens = tf.zeros([batch, length, width]) as tf.Tensor3D;
    const floatIndices = tf.zeros([batch, count]) as tf.Tensor2D;
    const wrongBatch = tf.zeros([batch + 1, count], 'int32') as tf.Tensor2D;
    expectSslError(() => gatherTokens(tokens, floatIndices), 'dtype-mismatch');
    expect(expectSslError(() => gatherTokens(tokens, wrongBatch), 'shape-mismatch')).toContain(`[${batch + 1}, ${count}]`);
    expectSslError(() => gatherTokens(tf.zeros([batch, length]) as unknown as tf.Tensor3D, wrongBatch), 'shape-mismatch');
    tf.dispose([tokens, floatIndices, wrongBatch]);
  });
});
