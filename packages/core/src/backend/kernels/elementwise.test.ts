// The element-wise kernels around a CNN's convolutions (elementwise.ts: Relu, Step, Multiply, Add, on four lanes and
// both threads; and the max-pool gradient's batch split) against the cpu backend: values and gradients, sizes on both sides of the helper-thread threshold,
// lengths and channel counts that are not multiples of 4, and other broadcasts (small-elementwise.test.ts has more of those).
import '../../setup';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../select';
import { expectMatchesCpu, randomHost } from './cpu-comparison';
import { simdHelperThread, simdKernels } from './simd/simd-kernels';
import { asWasmBackend } from './wasm-internals';

beforeAll(async () => {
  // The default thread count (vitest.config pins SSL_THREADS=1 for the other files), so the helper thread runs.
  delete process.env.SSL_THREADS;
  await initBackend({ backend: 'wasm', log: () => {} });
  await tf.ready();
});

// [3, 5, 7, 3] (315: a scalar tail), [2, 9, 9, 12], and [2, 128, 104, 5] (133 120: above the two-thread threshold,
// channels with a scalar tail).
const SHAPES = [
  [3, 5, 7, 3],
  [2, 9, 9, 12],
  [2, 128, 104, 5],
];

describe('element-wise kernels on wasm match cpu', () => {
  it('run on this backend: the SIMD module is there (and the helper thread, where two cores are)', () => {
    const backend = asWasmBackend(tf.backend());
    expect(simdKernels(backend)).toBeDefined();
    if (simdHelperThread(backend) === undefined) console.warn('no helper thread: the two-thread split is not exercised');
  });

  for (const shape of SHAPES) {
    it(`relu, step (alpha 0 and 0.3), and relu's gradient (mul(dy, step(x))) on ${JSON.stringify(shape)}`, async () => {
      const x = randomHost(shape, 3);
      await expectMatchesCpu('relu', (a) => tf.relu(a), [x]);
      await expectMatchesCpu('step', (a) => tf.step(a), [x]);
      await expectMatchesCpu('step alpha 0.3', (a) => tf.step(a, 0.3), [x]);
      await expectMatchesCpu('relu then square', (a) => tf.square(tf.relu(a)), [x]);
    });

    it(`multiply and add of equal shapes, and add of a channel bias either side ([C] and [1, 1, 1, C]) on ${JSON.stringify(shape)}`, async () => {
      const [a, b] = [randomHost(shape, 5), randomHost(shape, 6)];
      const channels = shape[shape.length - 1];
      await expectMatchesCpu('multiply', (x, y) => tf.mul(x, y), [a, b]);
      await expectMatchesCpu('add', (x, y) => tf.add(x, y), [a, b]);
      await expectMatchesCpu('add bias [C]', (x, y) => tf.add(x, y), [a, randomHost([channels], 7)]);
      await expectMatchesCpu('add bias [C] first', (x, y) => tf.add(x, y), [randomHost([channels], 8), a]);
      await expectMatchesCpu('add bias [1, 1, 1, C]', (x, y) => tf.add(x, y), [a, randomHost([1, 1, 1, channels], 9)]);
    });
  }

  it('other broadcasts (expanded by block copies below SMALL_ELEMENTS) and int32 (the stock kernels) give the same results', async () => {
    const a = randomHost([4, 6, 8], 10);
    await expectMatchesCpu('multiply by a channel vector', (x, y) => tf.mul(x, y), [a, randomHost([8], 11)]);
    await expectMatchesCpu('add along a middle axis', (x, y) => tf.add(x, y), [a, randomHost([6, 1], 12)]);
    await expectMatchesCpu('add of a scalar', (x, y) => tf.add(x, y), [a, randomHost([], 13)]);
    const ints = tf.tensor1d([3, -2, 0, 5, -7], 'int32');
    expect(Array.from(tf.relu(ints).dataSync())).toEqual([3, 0, 0, 5, 0]);
    expect(Array.from(tf.add(ints, ints).dataSync())).toEqual([6, -4, 0, 10, -14]);
    expect(Array.from(tf.mul(ints, ints).dataSync())).toEqual([9, 4, 0, 25, 49]);
    ints.dispose();
  });

  it('the 2x2 max-pool gradient with the batch split between the threads (odd batch, odd sizes) matches cpu', async () => {
    const x = randomHost([5, 33, 31, 16], 19);
    await expectMatchesCpu('maxPool 2x2/2 gradient', (a) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), [x]);
  });

  it('NaN stays NaN through relu and step, as on cpu', async () => {
    const values = new Float32Array(70_000).map((_, i) => (i % 7 === 0 ? Number.NaN : (i % 3) - 1));
    const onBackend = async (name: string) => {
      await tf.setBackend(name);
      return tf.tidy(() => {
        const x = tf.tensor1d(values);
        return [tf.relu(x), tf.step(x, 0.5)].map((t) => Array.from(t.dataSync()));
      });
    };
    const cpu = await onBackend('cpu');
    const wasm = await onBackend('wasm');
    expect(wasm).toEqual(cpu);
    expect(wasm[0][0]).toBeNaN();
    expect(wasm[1][7]).toBeNaN();
  });
});
