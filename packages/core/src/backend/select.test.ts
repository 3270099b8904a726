import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';
import * as tfWasm from '@tensorflow/tfjs-backend-wasm';
import { afterEach, describe, expect, it } from 'vitest';

import '../setup';
import { isSslError } from '../errors';
import { simdHelperThread } from './kernels/simd/simd-kernels';
import { asWasmBackend } from './kernels/wasm-internals';
import { BACKEND_NAMES, backendInfo, initBackend } from './select';
import { geluTanh } from '../nn/layers/common';

function resolvable(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}

async function selectionError(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected backend selection to fail');
}

const savedEnv = { SSL_BACKEND: process.env.SSL_BACKEND, SSL_THREADS: process.env.SSL_THREADS };
afterEach(() => {
  for (const [key, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

// Failed selections leave nothing selected, so these run before the successful one below.
describe('initBackend errors', () => {
  it('rejects an unknown SSL_BACKEND and lists the valid names', async () => {
    process.env.SSL_BACKEND = 'tpu';
    const error = await selectionError(() => initBackend({ log: () => {} }));
    expect(isSslError(error, 'backend')).toBe(true);
    expect(error.message).toContain('"tpu"');
    for (const name of BACKEND_NAMES) expect(error.message).toContain(name);
  });

  it('rejects an unknown backend option the same way', async () => {
    const error = await selectionError(() => initBackend({ backend: 'metal' as never, log: () => {} }));
    expect(isSslError(error, 'backend')).toBe(true);
    expect(error.message).toContain('use one of tensorflow-gpu, tensorflow, wasm, cpu');
  });

  it.skipIf(resolvable('@tensorflow/tfjs-node'))('says what to install when SSL_BACKEND=tensorflow lacks tfjs-node', async () => {
    process.env.SSL_BACKEND = 'tensorflow';
    const error = await selectionError(() => initBackend({ log: () => {} }));
    expect(isSslError(error, 'backend')).toBe(true);
    expect(error.message).toContain('pnpm add @tensorflow/tfjs-node');
  });

  it.skipIf(resolvable('@tensorflow/tfjs-node-gpu'))('names the CUDA and cuDNN versions tfjs-node-gpu needs', async () => {
    const error = await selectionError(() => initBackend({ backend: 'tensorflow-gpu', log: () => {} }));
    expect(isSslError(error, 'backend')).toBe(true);
    expect(error.message).toContain('pnpm add @tensorflow/tfjs-node-gpu');
    expect(error.message).toContain('CUDA Toolkit 11.2');
    expect(error.message).toContain('cuDNN 8.1');
  });

  it('rejects a thread count that is not a positive integer', async () => {
    process.env.SSL_THREADS = '0';
    const error = await selectionError(() => initBackend({ log: () => {} }));
    expect(isSslError(error, 'invalid-config')).toBe(true);
    expect(backendInfo()).toBeUndefined();
  });
});

describe('initBackend default selection', () => {
  it('chooses multi-threaded SIMD wasm without tfjs-node, reports it once and returns the same info again', async () => {
    delete process.env.SSL_BACKEND;
    delete process.env.SSL_THREADS;
    const lines: string[] = [];
    const info = await initBackend({ log: (line) => lines.push(line) });
    const again = await initBackend({ backend: 'cpu', log: (line) => lines.push(line) });

    expect(again).toBe(info);
    expect(backendInfo()).toBe(info);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('@ssl backend: wasm');
    expect(info.name).toBe('wasm');
    expect(info.tfjsBackend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.simd).toBe(true);
    // tfjs-backend-wasm's C++ side caps its pool at 8 threads.
    expect(info.threads).toBe(Math.min(os.availableParallelism(), 8));
    expect(tfWasm.getThreadsCount()).toBe(info.threads);
    if (info.threads > 1) expect(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')).toBe(true);
  });

  it('computes on the threaded backend what the reference cpu backend computes', async () => {
    const a = tf.randomUniform([2, 9, 9, 5], -1, 1, 'float32', 7);
    const kernel = tf.randomUniform([3, 3, 5, 16], -1, 1, 'float32', 8);
    const onWasm = tf.tidy(() =>
      tf.matMul(tf.conv2d(a as tf.Tensor4D, kernel as tf.Tensor4D, 1, 'same').reshape([162, 16]), kernel.reshape([45, 16]), false, true),
    );
    const wasmValues = await onWasm.data();
    const aValues = await a.data();
    const kernelValues = await kernel.data();
    tf.dispose([a, kernel, onWasm]);

    await tf.setBackend('cpu');
    try {
      const onCpu = tf.tidy(() => {
        const aCpu = tf.tensor4d(aValues, [2, 9, 9, 5]);
        const kernelCpu = tf.tensor4d(kernelValues, [3, 3, 5, 16]);
        return tf.matMul(tf.conv2d(aCpu, kernelCpu, 1, 'same').reshape([162, 16]), kernelCpu.reshape([45, 16]), false, true);
      });
      const cpuValues = await onCpu.data();
      onCpu.dispose();
      let worst = 0;
      for (let i = 0; i < cpuValues.length; i++) worst = Math.max(worst, Math.abs(cpuValues[i] - wasmValues[i]));
      expect(worst).toBeLessThan(1e-3);
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('splits the SIMD conv filter gradient with its helper thread and matches the cpu backend', async () => {
    delete process.env.SSL_BACKEND;
    delete process.env.SSL_THREADS;
    const info = await initBackend({ log: () => {} }); // the process's one selection, made here if no test before made it
    if (info.threads === 1) return; // a 1-core machine: no helper thread to test
    expect(simdHelperThread(asWasmBackend(tf.backend()))).toBeDefined();
    const x = tf.randomUniform([4, 9, 9, 5], -1, 1, 'float32', 9);
    const kernel = tf.randomUniform([3, 3, 5, 16], -1, 1, 'float32', 10);
    const gradient = (input: tf.Tensor4D, filter: tf.Tensor4D) =>
      tf.grad((w: tf.Tensor) => tf.sum(tf.square(tf.conv2d(input, w as tf.Tensor4D, 1, 'same'))))(filter);
    const wasmGradient = gradient(x as tf.Tensor4D, kernel as tf.Tensor4D);
    const onWasm = await wasmGradient.data();
    const [xValues, kernelValues] = [await x.data(), await kernel.data()];
    tf.dispose([x, kernel, wasmGradient]);
    await tf.setBackend('cpu');
    try {
      const onCpu = await tf.tidy(() => gradient(tf.tensor4d(xValues, [4, 9, 9, 5]), tf.tensor4d(kernelValues, [3, 3, 5, 16]))).data();
      let worst = 0;
      for (let i = 0; i < onCpu.length; i++) worst = Math.max(worst, Math.abs(onCpu[i] - onWasm[i]));
      expect(worst).toBeLessThan(1e-3);
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('splits the SIMD batched matmul (attention products) with its helper thread and matches the cpu backend', async () => {
    const info = await initBackend({ log: () => {} });
    if (info.threads === 1) return;
    expect(simdHelperThread(asWasmBackend(tf.backend()))).toBeDefined();
    // 12 products of 50x16·16x50: above the size where the helper thread takes half the batch.
    const q = tf.randomUniform([12, 50, 16], -1, 1, 'float32', 11);
    const k = tf.randomUniform([12, 50, 16], -1, 1, 'float32', 12);
    const onWasm = await tf.tidy(() => tf.matMul(q, k, false, true)).data();
    const [qValues, kValues] = [await q.data(), await k.data()];
    tf.dispose([q, k]);
    await tf.setBackend('cpu');
    try {
      const onCpu = await tf
        .tidy(() => tf.matMul(tf.tensor3d(qValues, [12, 50, 16]), tf.tensor3d(kValues, [12, 50, 16]), false, true))
        .data();
      let worst = 0;
      for (let i = 0; i < onCpu.length; i++) worst = Math.max(worst, Math.abs(onCpu[i] - onWasm[i]));
      expect(worst).toBeLessThan(1e-4);
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('splits the SIMD GELU (value and gradient) with its helper thread and matches the cpu backend', async () => {
    const info = await initBackend({ log: () => {} });
    if (info.threads === 1) return;
    expect(simdHelperThread(asWasmBackend(tf.backend()))).toBeDefined();
    // 100 003 values: above the size where the helper thread takes half, with a scalar tail.
    const run = () =>
      tf.tidy(() => {
        const x = tf.mul(tf.sin(tf.range(0, 100_003)), 5);
        const { value, grad } = tf.valueAndGrad((input: tf.Tensor) => tf.sum(tf.mul(geluTanh(input), tf.cos(x))))(x);
        return { value: value.dataSync()[0], y: geluTanh(x).dataSync(), dx: grad.dataSync() };
      });
    const onWasm = run();
    await tf.setBackend('cpu');
    try {
      const onCpu = run();
      let worst = 0;
      for (let i = 0; i < onCpu.y.length; i++)
        worst = Math.max(worst, Math.abs(onCpu.y[i] - onWasm.y[i]), Math.abs(onCpu.dx[i] - onWasm.dx[i]));
      expect(worst).toBeLessThan(2e-5);
      // A sum of 10⁵ float32 terms: the two backends add in different orders.
      expect(Math.abs(onWasm.value - onCpu.value)).toBeLessThan(1e-4 * Math.abs(onCpu.value));
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('reads tensors written after the shared wasm heap grew', async () => {
    const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm;
    const before = heap.HEAPU8.byteLength;
    // 96 MB is more than the 16 MB the heap starts with, so the heap must grow.
    const big = tf.fill([24 * 1024 * 1024], 1.5);
    const small = tf.add(tf.tensor1d([1, 2, 3]), 1);
    expect(heap.HEAPU8.byteLength).toBeGreaterThan(before);
    expect(Array.from(await small.data())).toEqual([2, 3, 4]);
    expect((await big.slice([24 * 1024 * 1024 - 2], [2]).data())[1]).toBe(1.5);
    tf.dispose([big, small]);
  });
});

const here = path.dirname(fileURLToPath(import.meta.url));

function runProgram(lines: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--conditions=@ssl/source', '--import', 'tsx', '--input-type=module', '--eval', lines.join('\n')], {
    cwd: here,
    encoding: 'utf8',
    timeout: 90_000,
    env: { ...process.env, SSL_BACKEND: '', SSL_THREADS: '' },
  });
}

describe('initBackend in a plain Node program', () => {
  it('lets the program exit, keeps stdout clean and reports the backend once on stderr', () => {
    const result = runProgram([
      "import * as tf from '@tensorflow/tfjs-core';",
      "import { initBackend } from './select.ts';",
      'const info = await initBackend();',
      'await initBackend();',
      'const y = tf.matMul(tf.ones([64, 64]), tf.ones([64, 64]));',
      'process.stdout.write(JSON.stringify({ threads: info.threads, sum: (await tf.sum(y).data())[0] }));',
    ]);
    expect(result.error).toBeUndefined();
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ threads: Math.min(os.availableParallelism(), 8), sum: 64 * 64 * 64 });
    expect(result.stderr.match(/@ssl backend: wasm/g)).toHaveLength(1);
  });

  it("reports a later error with the program's own message, not emscripten's glue source", () => {
    const result = runProgram([
      "import { initBackend } from './select.ts';",
      'await initBackend();',
      "throw new Error('boom from the program');",
    ]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('boom from the program');
    expect(result.stderr).not.toContain('GROWABLE_HEAP');
  });
});
