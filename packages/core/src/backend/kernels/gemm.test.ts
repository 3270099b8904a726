// kernels.c's two-thread GEMM (gemm_pack_b + gemm_packed), which serves every product with a single right
// matrix on wasm, against the cpu backend: values and both gradients. The backend is chosen by initBackend(),
// so on a machine with two cores the products above the helper-thread size are split between two threads.
import '../../setup';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { Random } from '../../random';
import { initBackend } from '../select';
import { setMatMulMethod } from './matmul';
import { simdHelperThread, simdKernels } from './simd/simd-kernels';
import { asWasmBackend } from './wasm-internals';

interface HostTensor {
  shape: number[];
  values: Float32Array;
}

function randomHost(shape: number[], seed: number): HostTensor {
  const generator = new Random(seed);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = generator.normal();
  return { shape, values };
}

/** The value of op(inputs) and the gradients of Σ op(inputs)·weights (random weights: a non-uniform dy). */
async function valueAndGradients(
  backend: string,
  op: (...inputs: tf.Tensor[]) => tf.Tensor,
  inputs: HostTensor[],
  withGradients: boolean,
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const tensors = inputs.map((input) => tf.tensor(input.values, input.shape));
    const value = op(...tensors);
    if (!withGradients) return [value.dataSync() as Float32Array];
    const weights = tf.tensor(randomHost(value.shape, 7).values, value.shape);
    const gradients = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(op(...xs), weights)))(tensors);
    return [value, ...gradients].map((t) => t.dataSync() as Float32Array);
  });
}

/** The kernel tests' bound: 2e-5·√n + 1e-5 relative to the largest value of the cpu result. */
function expectClose(actual: Float32Array, expected: Float32Array, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  let scale = 1;
  for (const value of expected) scale = Math.max(scale, Math.abs(value));
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst / scale, `${label}: max |wasm - cpu| = ${worst} at scale ${scale}`).toBeLessThan(2e-5 * Math.sqrt(actual.length) + 1e-5);
  expect(actual.every(Number.isFinite), `${label}: finite`).toBe(true);
}

async function expectMatchesCpu(
  label: string,
  op: (...inputs: tf.Tensor[]) => tf.Tensor,
  inputs: HostTensor[],
  withGradients = true,
): Promise<void> {
  const reference = await valueAndGradients('cpu', op, inputs, withGradients);
  const result = await valueAndGradients('wasm', op, inputs, withGradients);
  const names = ['value', ...inputs.map((_, i) => `d/dinput${i}`)];
  reference.forEach((expected, i) => expectClose(result[i], expected, `${label} ${names[i]}`));
  await tf.setBackend('wasm');
}

beforeAll(async () => {
  // The default thread count (vitest.config pins SSL_THREADS=1 for the other files), so the helper thread runs.
  delete process.env.SSL_THREADS;
  await initBackend({ backend: 'wasm', log: () => {} });
  await tf.ready();
});

describe('single products on wasm (kernels.c GEMM) match cpu', () => {
  it('runs on this backend: the SIMD module is there', () => {
    expect(simdKernels(asWasmBackend(tf.backend()))).toBeDefined();
  });

  // [m, k, n]: row tails (m mod 4 = 1, 2, 3), partial 8-column panels (n mod 8 ≠ 0), depths across several
  // 256-deep blocks (530 = 256 + 256 + 18), and one product large enough for the helper thread to take half.
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [5, 3, 8],
    [6, 17, 13],
    [7, 530, 21],
    [75, 530, 21],
    [130, 64, 40],
  ];
  for (const [m, k, n] of shapes) {
    it(`${m}x${k}·${k}x${n}, each operand transposed or not, values and both gradients`, async () => {
      for (const [transposeA, transposeB] of [
        [false, false],
        [false, true],
        [true, false],
        [true, true],
      ] as const) {
        const left = randomHost(transposeA ? [k, m] : [m, k], m + k);
        const right = randomHost(transposeB ? [n, k] : [k, n], k + n);
        await expectMatchesCpu(
          `matMul ${m}x${k}x${n} tA ${transposeA} tB ${transposeB}`,
          (x, y) => tf.matMul(x, y, transposeA, transposeB),
          [left, right],
        );
      }
    });
  }

  it('a batch of left matrices times one right matrix (rows folded into one product), with the left transposed', async () => {
    // Values only: tfjs-core 4.22's BatchMatMul gradient does not sum over broadcast batch axes (on any backend).
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const left = randomHost(transposeA ? [3, 33, 10] : [3, 10, 33], 3);
        const right = randomHost(transposeB ? [19, 33] : [33, 19], 4);
        const op = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => tf.matMul(x, y, transposeA, transposeB);
        await expectMatchesCpu(`[3,10,33]·[33,19] tA ${transposeA} tB ${transposeB}`, op, [left, right], false);
      }
    }
  });

  it('fused matMul (a dense layer): bias in the GEMM, then relu or none; a bias broadcast from one value takes the stock path', async () => {
    for (const activation of ['relu', 'linear'] as const) {
      for (const [transposeA, transposeB] of [
        [false, false],
        [true, true],
      ] as const) {
        const [m, k, n] = [75, 300, 21];
        const inputs = [randomHost(transposeA ? [k, m] : [m, k], 5), randomHost(transposeB ? [n, k] : [k, n], 6), randomHost([n], 8)];
        await expectMatchesCpu(
          `fused ${activation} tA ${transposeA} tB ${transposeB}`,
          (x, y, bias) => tf.fused.matMul({ a: x, b: y, transposeA, transposeB, bias, activation }),
          inputs,
        );
      }
    }
    const inputs = [randomHost([9, 12], 9), randomHost([12, 5], 10), randomHost([1], 11)];
    await expectMatchesCpu('fused, one bias for every column', (x, y, bias) => tf.fused.matMul({ a: x, b: y, bias }), inputs);
  });

  it("setMatMulMethod('xnnpack') restores XNNPACK's fully-connected operator, with the same results", async () => {
    setMatMulMethod('xnnpack');
    try {
      const inputs = [randomHost([40, 70], 12), randomHost([30, 70], 13)];
      await expectMatchesCpu('xnnpack tB', (x, y) => tf.matMul(x, y, false, true), inputs);
    } finally {
      setMatMulMethod('auto');
    }
  });

  it('leaves no tensor behind and splits large products with the helper thread when there is one', async () => {
    const a = tf.randomNormal([301, 200]);
    const b = tf.randomNormal([200, 77]);
    const c = tf.randomNormal([301, 77]);
    const bias = tf.zeros([77]);
    const before = tf.memory().numTensors;
    tf.matMul(a, b).dispose();
    tf.matMul(a, c, true, false).dispose();
    tf.fused.matMul({ a, b, bias, activation: 'relu' }).dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b, c, bias]);
    // initBackend starts the helper on a machine with two or more cores (the values above were then split).
    const threads = (await import('node:os')).availableParallelism();
    if (threads > 1) expect(simdHelperThread(asWasmBackend(tf.backend()))).toBeDefined();
  });
});
