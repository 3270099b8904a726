import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';

import { requireFloat, requireNonEmpty, requireNonNegative, requirePositive, requireRank, requireSameShape } from './checks';
import { SslError } from './errors';

function thrown(fn: () => void): SslError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SslError) return error;
    throw error;
  }
  throw new Error('expected an SslError, nothing was thrown');
}

describe('tensor checks', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    await tf.ready();
  });

  it('requireRank accepts the rank asked for and names the argument, shape and layout otherwise', () => {
    const matrix = tf.zeros([2, 3]);
    expect(() => requireRank('z', matrix, 2, '[batch, dim]')).not.toThrow();
    const error = thrown(() => requireRank('z', matrix, 3, '[batch, tokens, dim]'));
    expect(error.code).toBe('shape-mismatch');
    expect(error.message).toContain('z must be a rank-3 tensor [batch, tokens, dim], got shape [2, 3] (rank 2)');
    expect(error.details).toEqual({ name: 'z', shape: [2, 3] });
    matrix.dispose();
  });

  it('requireSameShape compares rank and every size and says why they must match', () => {
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([2, 3]);
    const transposed = tf.zeros([3, 2]);
    const flat = tf.zeros([6]);
    expect(() => requireSameShape('a', a, 'b', b, 'row i pairs with row i')).not.toThrow();
    const error = thrown(() => requireSameShape('a', a, 'c', transposed, 'row i pairs with row i'));
    expect(error.code).toBe('shape-mismatch');
    expect(error.message).toBe('a [2, 3] and c [3, 2] must have the same shape: row i pairs with row i.');
    expect(error.details).toEqual({ a: [2, 3], c: [3, 2] });
    expect(thrown(() => requireSameShape('a', a, 'flat', flat, 'x')).code).toBe('shape-mismatch');
    tf.dispose([a, b, transposed, flat]);
  });

  it('requireNonEmpty rejects a tensor with a zero-sized axis', () => {
    const empty = tf.zeros([0, 4]);
    const full = tf.zeros([1, 4]);
    expect(() => requireNonEmpty('full', full)).not.toThrow();
    const error = thrown(() => requireNonEmpty('empty', empty));
    expect(error.code).toBe('shape-mismatch');
    expect(error.message).toContain('empty is empty (shape [0, 4])');
    tf.dispose([empty, full]);
  });

  it('requireFloat rejects int32 and bool tensors with the cast to apply', () => {
    const floats = tf.zeros([2]);
    const ints = tf.zeros([2], 'int32');
    const bools = tf.zeros([2], 'bool');
    expect(() => requireFloat('x', floats)).not.toThrow();
    const error = thrown(() => requireFloat('labels', ints));
    expect(error.code).toBe('dtype-mismatch');
    expect(error.message).toBe("labels must be float32, got int32. Cast it with tf.cast(labels, 'float32').");
    expect(thrown(() => requireFloat('mask', bools)).details).toEqual({ name: 'mask', dtype: 'bool' });
    tf.dispose([floats, ints, bools]);
  });

  it('requirePositive accepts finite numbers > 0 only', () => {
    expect(() => requirePositive('temperature', 0.1)).not.toThrow();
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '0.5' as unknown as number]) {
      const error = thrown(() => requirePositive('temperature', bad));
      expect(error.code).toBe('invalid-config');
      expect(error.details).toEqual({ field: 'temperature', value: bad });
    }
    expect(thrown(() => requirePositive('temperature', 0)).message).toBe(
      'Invalid config value temperature = 0: expected a finite number > 0.',
    );
  });

  it('requireNonNegative accepts 0 and finite positive numbers only', () => {
    expect(() => requireNonNegative('lambda', 0)).not.toThrow();
    expect(() => requireNonNegative('lambda', 5e-3)).not.toThrow();
    for (const bad of [-1e-9, Number.NaN, Number.NEGATIVE_INFINITY]) {
      expect(thrown(() => requireNonNegative('lambda', bad)).code).toBe('invalid-config');
    }
    expect(thrown(() => requireNonNegative('lambda', -1)).message).toBe('Invalid config value lambda = -1: expected a finite number ≥ 0.');
  });
});
