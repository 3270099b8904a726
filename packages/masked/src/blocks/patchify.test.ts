import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { patchify, unpatchify } from './patchify';
import { Random, expectNoLeak, expectSslError, randomValues, useCpuBackend } from '@ssl/test-utils';

describe('patchify / unpatchify', () => {
  beforeAll(useCpuBackend);
  const [batch, height, width, channels, patchSize] = [2, 4, 6, 3, 2];
  const rows = height / patchSize;
  const columns = width / patchSize;
  const rng = new Random(31);
  const imageValues = randomValues(rng, batch * height * width * channels);
  const pixel = (n: number, y: number, x: number, c: number) => imageValues[((n * height + y) * width + x) * channels + c];

  it('follows the MAE reference order element by element', () => {
    const patches = tf.tidy(() => {
      const out = patchify(tf.tensor4d(imageValues, [batch, height, width, channels]), patchSize);
      expect(out.shape).toEqual([batch, rows * columns, patchSize * patchSize * channels]);
      return out.dataSync();
    });
    const patchLength = patchSize * patchSize * channels;
    for (let n = 0; n < batch; n++)
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < columns; j++)
          for (let u = 0; u < patchSize; u++)
            for (let v = 0; v < patchSize; v++)
              for (let c = 0; c < channels; c++) {
                // out[n, i·(W/p) + j, (u·p + v)·C + c] = images[n, i·p + u, j·p + v, c]
                const index = (n * rows * columns + i * columns + j) * patchLength + (u * patchSize + v) * channels + c;
                expect(patches[index]).toBe(pixel(n, i * patchSize + u, j * patchSize + v, c));
              }
  });

  it('round-trips exactly in both directions', () => {
    const [images, patches] = tf.tidy(() => {
      const original = tf.tensor4d(imageValues, [batch, height, width, channels]);
      const restored = unpatchify(patchify(original, patchSize), patchSize, [height, width, channels]);
      const patchValues = tf.tensor3d(imageValues, [batch, rows * columns, patchSize * patchSize * channels]);
      const repatched = patchify(unpatchify(patchValues, patchSize, [height, width, channels]), patchSize);
      return [restored.dataSync(), repatched.dataSync()];
    });
    expect(Array.from(images)).toEqual(Array.from(imageValues));
    expect(Array.from(patches)).toEqual(Array.from(imageValues));
  });

  it('handles patch size 1 and a single patch', () => {
    tf.tidy(() => {
      const images = tf.tensor4d(imageValues, [batch, height, width, channels]);
      expect(Array.from(patchify(images, 1).dataSync())).toEqual(Array.from(imageValues));
      const whole = tf.slice(images, [0, 0, 0, 0], [batch, 4, 4, channels]) as tf.Tensor4D;
      expect(Array.from(patchify(whole, 4).dataSync())).toEqual(Array.from(whole.dataSync()));
    });
  });

  it('passes gradients through as the inverse permutation', () => {
    // d/dx Σ patchify(x)·w = unpatchify(w).
    const weightValues = randomValues(rng, imageValues.length);
    const [gradient, expected] = tf.tidy(() => {
      const weights = tf.tensor3d(weightValues, [batch, rows * columns, patchSize * patchSize * channels]);
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(patchify(x as tf.Tensor4D, patchSize), weights)))(
        tf.tensor4d(imageValues, [batch, height, width, channels]),
      );
      return [g.dataSync(), unpatchify(weights, patchSize, [height, width, channels]).dataSync()];
    });
    expect(Array.from(gradient)).toEqual(Array.from(expected));
  });

  it('leaves no tensors behind', () => {
    const images = tf.tensor4d(imageValues, [batch, height, width, channels]);
    const patches = patchify(images, patchSize);
    expectNoLeak(() => patchify(images, patchSize));
    expectNoLeak(() => unpatchify(patches, patchSize, [height, width, channels]));
    tf.dispose([images, patches]);
  });

  it('rejects indivisible sizes, bad patch sizes and mismatched patches with SslError', () => {
    const images = tf.zeros([1, 4, 6, 3]) as tf.Tensor4D;
    const patches = tf.zeros([1, 6, 12]) as tf.Tensor3D;
    expect(expectSslError(() => patchify(images, 4), 'shape-mismatch')).toContain('[1, 4, 6, 3]');
    expectSslError(() => patchify(images, 0), 'invalid-config');
    expectSslError(() => patchify(images, 1.5), 'invalid-config');
    expectSslError(() => patchify(tf.zeros([4, 6, 3]) as unknown as tf.Tensor4D, 2), 'shape-mismatch');
    expect(expectSslError(() => unpatchify(patches, 2, [4, 6, 1]), 'shape-mismatch')).toContain('[1, 6, 12]');
    expectSslError(() => unpatchify(patches, 2, [4, 5, 3]), 'shape-mismatch');
    expectSslError(() => unpatchify(patches, 2, [4, 6] as unknown as [number, number, number]), 'invalid-config');
    tf.dispose([images, patches]);
  });
});
