// Winograd F(4×4, 3×3) convolutions on wasm with the helper thread running (the default thread count; vitest.config
// pins SSL_THREADS=1 for the other files): each thread takes half of the 36 positions of the products, filter
// gradient included, and the results must still match the cpu backend on values and gradients.
import '../../setup';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { initBackend } from '../select';
import { expectMatchesCpu, randomHost } from './cpu-comparison';
import { simdHelperThread } from './simd/simd-kernels';
import { withWinogradSettings } from './winograd';
import { asWasmBackend } from './wasm-internals';

beforeAll(async () => {
  delete process.env.SSL_THREADS;
  await initBackend({ backend: 'wasm', threads: 2, log: () => {} });
  await tf.ready();
});

describe('Winograd convolutions on two threads match cpu', () => {
  it('runs with the helper thread', () => {
    expect(simdHelperThread(asWasmBackend(tf.backend()))).toBeDefined();
  });

  it('value, input and filter gradients, in one chunk and in chunks of 2 images, by both filter-gradient products', async () => {
    const x = randomHost([5, 9, 8, 16], 1);
    const filter = randomHost([3, 3, 16, 20], 2); // 9×8 outputs: 3 × 2 tiles of 4×4 per image
    for (const products of ['blocked', 'rows'] as const) {
      for (const imagesPerChunk of [undefined, 2]) {
        const chunkFloats = imagesPerChunk === undefined ? undefined : imagesPerChunk * 36 * 6 * 20;
        await withWinogradSettings({ filterProducts: products, ...(chunkFloats === undefined ? {} : { chunkFloats }) }, () =>
          expectMatchesCpu(
            `winograd ${products}, two threads, chunks of ${imagesPerChunk ?? 'all'}`,
            (a, w) => tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
            [x, filter],
          ),
        );
      }
    }
  });
});

describe('SSL_WINOGRAD_FILTER_PRODUCTS', () => {
  const before = process.env.SSL_WINOGRAD_FILTER_PRODUCTS;
  afterEach(() => {
    if (before === undefined) delete process.env.SSL_WINOGRAD_FILTER_PRODUCTS;
    else process.env.SSL_WINOGRAD_FILTER_PRODUCTS = before;
    vi.resetModules();
  });

  // A fresh copy of the module reads the variable as a new process would.
  const freshModule = async (value: string | undefined) => {
    if (value === undefined) delete process.env.SSL_WINOGRAD_FILTER_PRODUCTS;
    else process.env.SSL_WINOGRAD_FILTER_PRODUCTS = value;
    vi.resetModules();
    return import('./winograd');
  };

  it('picks the filter products for the process when the module loads, and is not read again', async () => {
    const unset = await freshModule(undefined);
    expect(unset.winogradFilterProducts()).toBe(unset.DEFAULT_WINOGRAD_FILTER_PRODUCTS);
    for (const value of ['rows', 'blocked', ' blocked '] as const) {
      const fresh = await freshModule(value);
      expect(fresh.winogradFilterProducts()).toBe(value.trim());
      process.env.SSL_WINOGRAD_FILTER_PRODUCTS = value.trim() === 'rows' ? 'blocked' : 'rows';
      expect(fresh.winogradFilterProducts()).toBe(value.trim());
    }
  });

  it('refuses an unknown value at load, naming the valid ones', async () => {
    const error = await freshModule('columns').then(
      () => undefined,
      (e: unknown) => e,
    );
    // The fresh module has its own copy of errors.ts, so the class is checked by name.
    expect(error).toMatchObject({ name: 'SslError', code: 'invalid-config' });
    expect((error as Error).message).toContain('use one of blocked, rows');
  });
});
