// kernels.c's two-thread GEMM (gemm_pack_b + gemm_packed), which serves every product with a single right
// matrix on wasm, against the cpu backend: values and both gradients. The backend is chosen by initBackend(),
// so on a machine with two cores the products above the helper-thread size are split between two threads.
import '../../setup';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../select';
import { setMatMulMethod } from './matmul';
import { simdHelperThread, simdKernels } from './simd/simd-kernels';
import { asWasmBackend } from './wasm-internals';
import { expectMatchesCpu, randomHost } from './cpu-comparison';

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

  it("setMatMulMethod('xnnpack') restores XNNPACK's fully-connected operator (the one-thread path), with the same results", async () => {
    setMatMulMethod('xnnpack');
    try {
      const inputs = [randomHost([40, 70], 12), randomHost([30, 70], 13)];
      await expectMatchesCpu('xnnpack tB', (x, y) => tf.matMul(x, y, false, true), inputs);
      const withBias = [randomHost([9, 12], 9), randomHost([12, 5], 10), randomHost([1], 11)];
      await expectMatchesCpu('xnnpack fused, one bias for every column', (x, y, bias) => tf.fused.matMul({ a: x, b: y, bias }), withBias);
    } finally {
      setMatMulMethod('auto');
    }
  });

  it('strided convolutions: the input gradient (dy·Wᵀ on the GEMM, then col2im) and the fused conv epilogue match cpu', async () => {
    // 3×3 stride 2 'same' and 1×1 stride 2 'valid' (ResNet's downsampling), large enough for the helper thread's half.
    for (const [kernel, pad] of [
      [3, 'same'],
      [1, 'valid'],
    ] as const) {
      const inputs = [randomHost([4, 14, 14, 8], 14), randomHost([kernel, kernel, 8, 24], 15)];
      await expectMatchesCpu(`conv ${kernel}x${kernel} /2 ${pad}`, (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, pad), inputs);
    }
    const fused = [randomHost([2, 9, 9, 16], 16), randomHost([3, 3, 16, 16], 17), randomHost([16], 18)];
    await expectMatchesCpu(
      'fused conv (Winograd) + bias + relu',
      (x, w, bias) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias, activation: 'relu' }),
      fused,
      false,
    );
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
