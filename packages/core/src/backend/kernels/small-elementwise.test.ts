// The small-tensor element-wise paths (small-elementwise.ts, and elementwise.ts's broadcast Multiply/Add) against the
// kernels they replace: bit for bit against tfjs-backend-wasm's own kernel on the same inputs, and against the cpu
// backend (values and gradients). Shapes from a FixMatch step (per-image factors, logits against row maxima) and
// one above SMALL_ELEMENTS, which takes the stock kernel.
import '../../setup';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { initBackend } from '../select';
import { expectMatchesCpu, randomHost, type HostTensor } from './cpu-comparison';
import { SMALL_ELEMENTS } from './small-elementwise';
import { asWasmBackend, replacedWasmKernel } from './wasm-internals';

beforeAll(async () => {
  delete process.env.SSL_THREADS;
  await initBackend({ backend: 'wasm', log: () => {} });
  await tf.ready();
});

/** Values with exact halves, negative halves, zeros and large magnitudes mixed in, to catch rounding and clamping edges. */
function edgyHost(shape: number[], seed: number): HostTensor {
  const host = randomHost(shape, seed);
  const edges = [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0, -0, 1e30, -1e30, 3, -3];
  for (let i = 0; i < host.values.length; i += 5) host.values[i] = edges[(i / 5) % edges.length];
  for (let i = 2; i < host.values.length; i += 7) host.values[i] *= 4;
  return host;
}

/** The replaced tfjs-backend-wasm kernel (the stock one) run directly, and the registered kernel, on the same wasm tensors. */
function oursAndStock(kernelName: string, inputs: HostTensor[], attrs: tf.NamedAttrMap = {}): [Float32Array, Float32Array] {
  const backend = asWasmBackend(tf.backend());
  const stock = replacedWasmKernel(kernelName) ?? tf.getKernel(kernelName, 'wasm');
  const ours = tf.getKernel(kernelName, 'wasm');
  if (!stock || !ours) throw new Error(`no ${kernelName} kernel`);
  const tensors = inputs.map((host) => tf.tensor(host.values, host.shape));
  const names = inputs.length === 1 ? ['x'] : ['a', 'b'];
  const named = Object.fromEntries(tensors.map((t, i) => [names[i], t]));
  const run = (config: tf.KernelConfig) => {
    const info = config.kernelFunc({ inputs: named, attrs, backend }) as tf.TensorInfo;
    const values = backend.readSync(info.dataId) as Float32Array;
    backend.disposeData(info.dataId);
    return Float32Array.from(values);
  };
  try {
    return [run(ours), run(stock)];
  } finally {
    tf.dispose(tensors);
  }
}

function expectSameBits(actual: Float32Array, expected: Float32Array, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  let differing = 0;
  // NaN's sign and payload are not specified by wasm (x86 makes 0/0 a negative NaN): any NaN equals any NaN.
  for (let i = 0; i < a.length; i++) if (a[i] !== e[i] && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) differing++;
  expect(differing, `${label}: elements whose bits differ from the stock kernel's`).toBe(0);
}

const BINARY_CASES: Array<[string, number[], number[]]> = [
  ['per-image factor', [48, 1, 1, 1], [48, 28, 28, 1]],
  ['images first', [16, 28, 28, 1], [16, 1, 1, 1]],
  ['logits and row maxima', [48, 10], [48, 1]],
  ['scalar', [7, 5, 3], []],
  ['equal shapes', [3, 5, 7, 3], [3, 5, 7, 3]],
  ['both broadcast', [4, 1, 6], [1, 5, 1]],
];

describe('small element-wise kernels on wasm', () => {
  it('are the registered kernels, with the stock ones kept behind them', () => {
    expect(SMALL_ELEMENTS).toBe(1 << 17);
    for (const kernelName of [tf.Sub, tf.RealDiv, tf.Round, tf.Floor, tf.ClipByValue, tf.Multiply, tf.Add]) {
      const stock = replacedWasmKernel(kernelName);
      expect(stock, kernelName).toBeDefined();
      expect(tf.getKernel(kernelName, 'wasm')?.kernelFunc, kernelName).not.toBe(stock?.kernelFunc);
    }
  });

  for (const kernelName of [tf.Sub, tf.RealDiv, tf.Multiply, tf.Add]) {
    it(`${kernelName}: bit for bit the stock kernel's result, broadcasting either side`, () => {
      BINARY_CASES.forEach(([label, aShape, bShape], k) => {
        const a = edgyHost(aShape, 10 + k);
        const b = edgyHost(bShape, 20 + k);
        // Division by the exact zeros in `b` gives infinities and NaN (0/0) on both paths.
        const [ours, stock] = oursAndStock(kernelName, [a, b]);
        expectSameBits(ours, stock, `${kernelName} ${label}`);
        const [oursSwapped, stockSwapped] = oursAndStock(kernelName, [b, a]);
        expectSameBits(oursSwapped, stockSwapped, `${kernelName} ${label} swapped`);
      });
    });
  }

  for (const [kernelName, attrs] of [
    [tf.Round, {}],
    [tf.Floor, {}],
    [tf.ClipByValue, { clipValueMin: -0.7, clipValueMax: 1.3 }],
  ] as const) {
    it(`${kernelName}: bit for bit the stock kernel's result, halves and negative zero included`, () => {
      for (const shape of [[48, 28, 28, 1], [5, 3], [1]]) {
        const [ours, stock] = oursAndStock(kernelName, [edgyHost(shape, 30)], attrs);
        expectSameBits(ours, stock, `${kernelName} ${JSON.stringify(shape)}`);
      }
    });
  }

  it('round is half to even (0.5 → 0, 1.5 → 2, 2.5 → 2, -2.5 → -2), as on cpu', () => {
    const x = tf.tensor1d([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 0.49999997, -3.7]);
    expect(Array.from(tf.round(x).dataSync())).toEqual([0, 2, 2, -0, -2, -2, 4, 0, -4]);
    x.dispose();
  });

  it('clipByValue leaves NaN to the stock kernel (same result as without the loop)', () => {
    const host: HostTensor = { shape: [6], values: Float32Array.from([0.2, Number.NaN, -4, 4, 1, -1]) };
    const [ours, stock] = oursAndStock(tf.ClipByValue, [host], { clipValueMin: -1, clipValueMax: 1 });
    expectSameBits(ours, stock, 'clip with NaN');
  });

  it('match cpu in values and gradients (sub, div, broadcast mul and add, clip, round and floor in an expression)', async () => {
    const images = randomHost([12, 28, 28, 1], 40);
    const factors = randomHost([12, 1, 1, 1], 41);
    await expectMatchesCpu('sub per image', (x, f) => tf.sub(x, f), [images, factors]);
    await expectMatchesCpu('div per image', (x, f) => tf.div(x, tf.add(tf.abs(f), 0.5)), [images, factors]);
    await expectMatchesCpu('mul per image', (x, f) => tf.mul(f, x), [images, factors]);
    await expectMatchesCpu('add per image', (x, f) => tf.add(x, f), [images, factors]);
    await expectMatchesCpu('log-softmax by row maxima', (x) => tf.sub(x, tf.max(x, 1, true)), [randomHost([48, 10], 42)]);
    await expectMatchesCpu('clip', (x) => tf.clipByValue(x, -0.5, 0.8), [images]);
    await expectMatchesCpu('posterize-like', (x) => tf.div(tf.floor(tf.mul(x, 16)), 16), [images], false);
    await expectMatchesCpu('round', (x) => tf.round(tf.mul(x, 255)), [images], false);
  });

  it('above SMALL_ELEMENTS the stock kernels run, with the same results', async () => {
    const big = randomHost([3, 210, 210, 1], 50);
    expect(big.values.length).toBeGreaterThanOrEqual(SMALL_ELEMENTS);
    const perImage = randomHost([3, 1, 1, 1], 51);
    await expectMatchesCpu('sub per image, large', (x, f) => tf.sub(x, f), [big, perImage]);
    await expectMatchesCpu('mul per image, large', (x, f) => tf.mul(x, f), [big, perImage]);
    await expectMatchesCpu('clip, large', (x) => tf.clipByValue(x, -0.5, 0.8), [big]);
    const [ours, stock] = oursAndStock(tf.Sub, [big, perImage]);
    expectSameBits(ours, stock, 'sub large');
  });

  it('int32 operands take the stock kernels', () => {
    const a = tf.tensor2d([5, -3, 8, 0], [2, 2], 'int32');
    const b = tf.tensor2d([2, 1], [2, 1], 'int32');
    expect(Array.from(tf.sub(a, b).dataSync())).toEqual([3, -5, 7, -1]);
    expect(tf.sub(a, b).dtype).toBe('int32');
    tf.dispose([a, b]);
  });
});
