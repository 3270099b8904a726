import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { CORE_VERSION } from './index';

describe('smoke', () => {
  it('wasm', async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    expect(tf.getBackend()).toBe('wasm');
    expect(CORE_VERSION).toBe('0.1.0');
    const y = tf.matMul(tf.ones([2, 3]), tf.ones([3, 2]));
    expect(Array.from(await y.data())).toEqual([3, 3, 3, 3]);
  });
});
