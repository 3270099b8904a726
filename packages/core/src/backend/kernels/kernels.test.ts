import '../../setup';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's ESM entry (what vitest loads) registers no gradients; the union package '@tensorflow/tfjs' normally does.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';

import { Random } from '../../random';
import {
  setConv2dFilterGradientChunkRows,
  setConv2dFilterGradientMethod,
  setConv2dInputGradientMethod,
  type FilterGradientMethod,
} from './conv2d-backprop';
import { listWasmTrainingKernels, registerWasmTrainingKernels } from './index';
import { SIMD_KERNELS_SOURCE_SHA256 } from './simd/kernels.generated';
import { setSimdKernelsEnabled, simdKernels } from './simd/simd-kernels';
import { asWasmBackend } from './wasm-internals';
import { setTransposeRouting } from './transpose';
import { positionPlane, setWinogradFilterBlockTiles, winogradKernels, withWinogradSettings } from './winograd';

/** Plain data so the same inputs can be rebuilt on either backend. */
interface HostTensor {
  shape: number[];
  values: Float32Array;
}

const random = new Random(20240611);

function randomHost(shape: number[]): HostTensor {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = random.normal();
  return { shape, values };
}

function randomInt(low: number, high: number): number {
  return low + Math.floor(random.next() * (high - low + 1));
}

interface ValueAndGradients {
  value: Float32Array;
  gradients: Float32Array[];
}

/**
 * Runs `op` on `backend` and returns its value and the gradients of Σ op(inputs)·weights with respect
 * to every input; random weights make dy non-uniform so a wrong index in a backward kernel shows.
 */
async function valueAndGradients(
  backend: string,
  op: (...inputs: tf.Tensor[]) => tf.Tensor,
  inputs: HostTensor[],
  withGradients = true,
): Promise<ValueAndGradients> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const tensors = inputs.map((input) => tf.tensor(input.values, input.shape));
    const value = op(...tensors);
    const weights = tf.tensor(randomHostSeeded(value.shape, 7).values, value.shape);
    if (!withGradients) return { value: value.dataSync() as Float32Array, gradients: [] };
    const gradients = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(op(...xs), weights)))(tensors);
    return { value: value.dataSync() as Float32Array, gradients: gradients.map((g) => g.dataSync() as Float32Array) };
  });
}

/** Deterministic per-shape weights (identical on both backends). */
function randomHostSeeded(shape: number[], seed: number): HostTensor {
  const generator = new Random(seed);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = generator.normal();
  return { shape, values };
}

function expectClose(actual: Float32Array, expected: Float32Array, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  let scale = 1;
  for (const value of expected) scale = Math.max(scale, Math.abs(value));
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst / scale, `${label}: max |wasm - cpu| = ${worst} at scale ${scale}`).toBeLessThan(2e-5 * Math.sqrt(actual.length) + 1e-5);
  expect(actual.every(Number.isFinite), `${label}: finite`).toBe(true);
}

async function expectMatchesCpu(label: string, op: (...inputs: tf.Tensor[]) => tf.Tensor, inputs: HostTensor[]): Promise<void> {
  const reference = await valueAndGradients('cpu', op, inputs);
  const result = await valueAndGradients('wasm', op, inputs);
  expectClose(result.value, reference.value, `${label} value`);
  reference.gradients.forEach((gradient, i) => expectClose(result.gradients[i], gradient, `${label} d/dinput${i}`));
}

/** Values only, for ops whose gradient tfjs cannot record (see the callers). */
async function expectValuesMatchCpu(label: string, op: (...inputs: tf.Tensor[]) => tf.Tensor, inputs: HostTensor[]): Promise<void> {
  const reference = await valueAndGradients('cpu', op, inputs, false);
  const result = await valueAndGradients('wasm', op, inputs, false);
  expectClose(result.value, reference.value, label);
}

/** Runs `run` (which reads its results to host values) on cpu, then on wasm, checking wasm leaves no tensor behind. */
async function onCpuThenWasm<T>(run: () => T): Promise<{ expected: T; actual: T }> {
  await tf.setBackend('cpu');
  const expected = run();
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  const actual = run();
  expect(tf.memory().numTensors).toBe(before);
  return { expected, actual };
}

/** <A u, v> computed on wasm; used for adjoint checks of kernels the cpu backend cannot reference. */
function dot(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.sum(tf.mul(a, b)).dataSync()[0]);
}

beforeAll(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('registerWasmTrainingKernels', () => {
  it('is idempotent and lists what it registers', () => {
    registerWasmTrainingKernels();
    const names = listWasmTrainingKernels();
    expect(names).toEqual(
      expect.arrayContaining([
        'Conv2DBackpropFilter',
        'Conv2DBackpropInput',
        'DepthwiseConv2dNativeBackpropFilter',
        'DepthwiseConv2dNativeBackpropInput',
        'UnsortedSegmentSum',
        'BatchMatMul',
        'Transpose',
      ]),
    );
    const before = names.map((name) => tf.getKernel(name, 'wasm')?.kernelFunc);
    registerWasmTrainingKernels();
    expect(names.map((name) => tf.getKernel(name, 'wasm')?.kernelFunc)).toEqual(before);
  });
});

describe('conv2d gradients match cpu', () => {
  const cases: Array<{ stride: 1 | 2; pad: 'same' | 'valid'; batch: number; method: 'auto' | 'col2im' }> = [];
  for (const stride of [1, 2] as const)
    for (const pad of ['same', 'valid'] as const) for (const batch of [1, 3]) cases.push({ stride, pad, batch, method: 'auto' });
  cases.push({ stride: 1, pad: 'same', batch: 3, method: 'col2im' }, { stride: 1, pad: 'valid', batch: 1, method: 'col2im' });

  it.each(cases)('stride $stride, $pad, batch $batch, input gradient $method', async ({ stride, pad, batch, method }) => {
    setConv2dInputGradientMethod(method);
    try {
      const size = randomInt(5, 9);
      const kernel = randomInt(1, 3);
      const x = randomHost([batch, size, size + 1, randomInt(1, 5)]);
      const filter = randomHost([kernel, kernel + (stride === 1 ? 1 : 0), x.shape[3], randomInt(1, 4)]);
      await expectMatchesCpu(
        `conv ${JSON.stringify({ stride, pad, batch, kernel })}`,
        (a, w) => tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
        [x, filter],
      );
    } finally {
      setConv2dInputGradientMethod('auto');
    }
  });

  it.each(['simd', 'batch-as-channels', 'patches-as-weights', 'transposed-patches'] as FilterGradientMethod[])(
    'filter gradient as %s, strides 1 and 2',
    async (method) => {
      setConv2dFilterGradientMethod(method);
      try {
        for (const stride of [1, 2] as const) {
          const x = randomHost([3, 7, 8, 3]);
          const filter = randomHost([3, 2, 3, 4]);
          await expectMatchesCpu(
            `${method} stride ${stride}`,
            (a, w) => tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, stride, stride === 1 ? 'same' : 'valid'),
            [x, filter],
          );
        }
      } finally {
        setConv2dFilterGradientMethod('auto');
      }
    },
  );

  it.each(['batch-as-channels', 'transposed-patches'] as FilterGradientMethod[])(
    'filter gradient as %s summed over chunks of the batch (1 and 2 images per chunk), one and many channels',
    async (method) => {
      setConv2dFilterGradientMethod(method);
      try {
        for (const rows of [1, 2 * 7 * 8]) {
          setConv2dFilterGradientChunkRows(rows);
          for (const channels of [1, 9]) {
            const x = randomHost([5, 7, 8, channels]);
            await expectMatchesCpu(
              `${method} chunks of ${rows} rows, ${channels} channels`,
              (a, w) => tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
              [x, randomHost([3, 3, channels, 4])],
            );
            await expectMatchesCpu(
              `${method} chunks of ${rows} rows, 1x1`,
              (a, w) => tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'),
              [x, randomHost([1, 1, channels, 3])],
            );
          }
        }
      } finally {
        setConv2dFilterGradientMethod('auto');
        setConv2dFilterGradientChunkRows(4096);
      }
    },
  );

  it('SIMD filter gradient: output channels with and without a scalar tail, partial patch tiles, several row blocks, strides (dilation: the adjoint test below)', async () => {
    setConv2dFilterGradientMethod('simd');
    try {
      for (const [inChannels, outChannels] of [
        [1, 3],
        [5, 8],
        [2, 11],
        [7, 16],
      ]) {
        // 3 × 12 × 12 = 432 output rows at stride 1: the kernel's 256-row blocks end mid-image.
        const x = randomHost([3, 12, 12, inChannels]);
        const w = randomHost([3, 3, inChannels, outChannels]);
        await expectMatchesCpu(
          `simd ${inChannels}→${outChannels} same`,
          (a, f) => tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'),
          [x, w],
        );
        await expectMatchesCpu(
          `simd ${inChannels}→${outChannels} s2 same`,
          (a, f) => tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 2, 'same'),
          [x, w],
        );
        await expectMatchesCpu(
          `simd ${inChannels}→${outChannels} s2 valid`,
          (a, f) => tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 2, 'valid'),
          [x, w],
        );
      }
      // A 7x7 stride-2 stem with asymmetric 'same' padding on an odd size, as in ResNet.
      await expectMatchesCpu('simd 7x7/2 stem', (a, f) => tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 2, 'same'), [
        randomHost([2, 11, 9, 3]),
        randomHost([7, 7, 3, 8]),
      ]);
    } finally {
      setConv2dFilterGradientMethod('auto');
    }
  });

  it('a 1x1 conv (patch matrix is the input itself) and a conv with bias and relu (FusedConv2D)', async () => {
    const x = randomHost([3, 4, 5, 6]);
    await expectMatchesCpu('pointwise', (a, w) => tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'), [x, randomHost([1, 1, 6, 3])]);
    await expectMatchesCpu(
      'fused',
      (a, w, b) => tf.fused.conv2d({ x: a as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 2, pad: 'same', bias: b, activation: 'relu' }),
      [x, randomHost([3, 3, 6, 4]), randomHost([4])],
    );
  });

  it('dilation 2: both backprop kernels are adjoints of the forward conv', async () => {
    await tf.setBackend('wasm');
    for (const pad of ['same', 'valid'] as const) {
      tf.tidy(() => {
        const x = tf.randomNormal([3, 9, 8, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
        const w = tf.randomNormal([3, 2, 3, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
        const y = tf.conv2d(x, w, 1, pad, 'NHWC', 2);
        const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3);
        const attrs = { strides: 1, pad, dataFormat: 'NHWC', dilations: 2 };
        const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor;
        const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor;
        const forward = dot(y, dy);
        // <conv(x, w), dy> = <x, dX(dy)> = <w, dW(x, dy)>
        expect(dot(x, dx)).toBeCloseTo(forward, 2);
        expect(dot(w, dw)).toBeCloseTo(forward, 2);
      });
    }
  });
});

describe('Winograd F(4x4, 3x3) convolutions match cpu', () => {
  type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
  const cases: Array<{ batch: number; height: number; width: number; inChannels: number; outChannels: number; pad: Pad }> = [
    // Sizes that are and are not multiples of the 4×4 output tile, batch 1 and odd, channel counts off 8.
    { batch: 1, height: 8, width: 8, inChannels: 16, outChannels: 16, pad: 'same' },
    { batch: 3, height: 7, width: 5, inChannels: 20, outChannels: 16, pad: 'same' },
    { batch: 3, height: 9, width: 6, inChannels: 16, outChannels: 28, pad: 'valid' },
    {
      batch: 1,
      height: 6,
      width: 11,
      inChannels: 24,
      outChannels: 20,
      pad: [
        [0, 0],
        [2, 0],
        [0, 1],
        [0, 0],
      ],
    },
  ];

  it.each(cases)(
    '$batch × $height×$width, $inChannels→$outChannels, pad $pad: value, input and filter gradients',
    async ({ batch, height, width, inChannels, outChannels, pad }) => {
      const x = randomHost([batch, height, width, inChannels]);
      const filter = randomHost([3, 3, inChannels, outChannels]);
      // The geometry must take the Winograd path, or this would test XNNPACK's direct convolution again.
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filter.shape as [number, number, number, number],
        1,
        1,
        pad,
        undefined,
        false,
        'channelsLast',
      );
      expect(winogradKernels(asWasmBackend(tf.findBackend('wasm')), info)).toBeDefined();
      await expectMatchesCpu(`winograd ${JSON.stringify(pad)}`, (a, w) => tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, pad), [
        x,
        filter,
      ]);
    },
  );

  it('FusedConv2D (tf.layers.conv2d): bias with relu, and with leaky relu', async () => {
    const x = randomHost([3, 6, 7, 16]);
    for (const activation of ['relu', 'leakyrelu'] as const) {
      await expectMatchesCpu(
        `winograd fused ${activation}`,
        (a, w, b) =>
          tf.fused.conv2d({
            x: a as tf.Tensor4D,
            filter: w as tf.Tensor4D,
            strides: 1,
            pad: 'same',
            bias: b,
            activation,
            leakyreluAlpha: 0.1,
          }),
        [x, randomHost([3, 3, 16, 20]), randomHost([20])],
      );
    }
  });

  it('filter gradient reduced over several blocks of tiles (blocks of 3 and 16 over 12 and 30 tiles)', async () => {
    for (const [blockTiles, shape] of [
      [3, [3, 8, 8, 16]],
      [16, [5, 9, 8, 16]],
    ] as const) {
      setWinogradFilterBlockTiles(blockTiles);
      try {
        await expectMatchesCpu(
          `winograd blocks of ${blockTiles} tiles`,
          (a, w) => tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
          [randomHost([...shape]), randomHost([3, 3, 16, 20])],
        );
      } finally {
        setWinogradFilterBlockTiles(undefined);
      }
    }
  });

  it('pads the 36 planes of transformed tiles to an odd number of cache lines: never a multiple of 4 KB apart', () => {
    // [tiles, channels]: FixMatch's 14×14×16 and 7×7×32 layers at batch 112, SimCLR's at 512, ResNet's 32×32×64 at
    // 256 (all unpadded multiples of 4 KB), and sizes that are not whole lines.
    for (const [tiles, channels] of [
      [1792, 16],
      [448, 64],
      [8192, 32],
      [16384, 64],
      [3, 20],
      [5, 4],
    ]) {
      const plane = positionPlane(tiles, channels);
      expect(plane).toBeGreaterThanOrEqual(tiles * channels);
      expect(plane % 16, `${tiles}×${channels}: whole lines`).toBe(0);
      expect((plane / 16) % 2, `${tiles}×${channels}: odd lines`).toBe(1);
      expect(plane - tiles * channels, `${tiles}×${channels}: at most two lines of pad`).toBeLessThan(32);
    }
  });

  it('summed over chunks of the batch (1 and 2 images per chunk, last chunk short), by both filter-gradient products', async () => {
    const x = randomHost([5, 8, 7, 16]);
    const filter = randomHost([3, 3, 16, 20]);
    for (const products of ['blocked', 'rows'] as const) {
      for (const images of [1, 2]) {
        await withWinogradSettings({ filterProducts: products, chunkFloats: images * 36 * 4 * 20 }, () =>
          expectMatchesCpu(
            `winograd ${products}, chunks of ${images}`,
            (a, w) => tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
            [x, filter],
          ),
        );
      }
    }
  });
});

describe('depthwise conv2d gradients match cpu', () => {
  const cases: Array<{ stride: 1 | 2; pad: 'same' | 'valid'; batch: number; multiplier: number }> = [];
  for (const stride of [1, 2] as const)
    for (const pad of ['same', 'valid'] as const)
      cases.push({ stride, pad, batch: stride === 1 ? 3 : 1, multiplier: pad === 'same' ? 2 : 1 });

  it.each(cases)('stride $stride, $pad, batch $batch, multiplier $multiplier', async ({ stride, pad, batch, multiplier }) => {
    const channels = randomInt(1, 4);
    const x = randomHost([batch, randomInt(5, 8), randomInt(5, 8), channels]);
    const filter = randomHost([3, 2, channels, multiplier]);
    await expectMatchesCpu('depthwise', (a, w) => tf.depthwiseConv2d(a as tf.Tensor4D, w as tf.Tensor4D, stride, pad), [x, filter]);
  });

  it('dilation 2: both backprop kernels are adjoints of the forward depthwise conv', async () => {
    await tf.setBackend('wasm');
    tf.tidy(() => {
      const x = tf.randomNormal([3, 9, 8, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, 3, 2], 0, 1, 'float32', 5) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(x, w, 1, 'same', 'NHWC', 2);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 6);
      const attrs = { strides: 1, pad: 'same', dilations: 2 };
      const dx = tf
        .engine()
        .runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor;
      const dw = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor;
      expect(dot(x, dx)).toBeCloseTo(dot(y, dy), 2);
      expect(dot(w, dw)).toBeCloseTo(dot(y, dy), 2);
    });
  });
});

describe('matMul matches cpu', () => {
  const shapes: Array<{ a: number[]; b: number[] }> = [
    { a: [], b: [] },
    { a: [3], b: [3] },
    { a: [2, 3], b: [2, 3] },
    { a: [3], b: [] },
    { a: [], b: [3] },
    { a: [2, 1], b: [1] },
  ];
  const cases = shapes.flatMap((batch) =>
    [false, true].flatMap((transposeA) => [false, true].map((transposeB) => ({ ...batch, transposeA, transposeB }))),
  );

  it.each(cases)('batch $a x $b, transposeA $transposeA, transposeB $transposeB', async ({ a, b, transposeA, transposeB }) => {
    const [m, k, n] = [randomInt(1, 7), randomInt(1, 9), randomInt(1, 6)];
    const left = randomHost([...a, ...(transposeA ? [k, m] : [m, k])]);
    const right = randomHost([...b, ...(transposeB ? [n, k] : [k, n])]);
    const op = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => tf.matMul(x, y, transposeA, transposeB);
    if (JSON.stringify(a) === JSON.stringify(b)) {
      await expectMatchesCpu('matMul', op, [left, right]);
    } else {
      // tfjs-core 4.22's BatchMatMul gradient does not sum over broadcast batch axes (it throws on every
      // backend), so broadcast products are compared on values only.
      await expectValuesMatchCpu('broadcast matMul value', op, [left, right]);
    }
  });

  it('batches of small products (attention; kernels.c batch_matmul): 4x8 tiles with row and column tails, broadcast left matrix, with and without SIMD', async () => {
    for (const enabled of [true, false]) {
      setSimdKernelsEnabled(enabled);
      try {
        for (const [m, k, n] of [
          [13, 16, 13],
          [8, 5, 16],
          [3, 9, 21],
        ]) {
          for (const [transposeA, transposeB] of [
            [false, false],
            [false, true],
            [true, false],
            [true, true],
          ]) {
            const op = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => tf.matMul(x, y, transposeA, transposeB);
            const left = randomHost([5, ...(transposeA ? [k, m] : [m, k])]);
            const right = randomHost([5, ...(transposeB ? [n, k] : [k, n])]);
            await expectMatchesCpu(`matMul [5,${m},${k}]x[5,${k},${n}] ${transposeA} ${transposeB} simd ${enabled}`, op, [left, right]);
          }
          const op = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => tf.matMul(x, y);
          const inputs = [randomHost([1, m, k]), randomHost([4, k, n])];
          await expectValuesMatchCpu(`broadcast left [1,${m},${k}]x[4,${k},${n}]`, op, inputs);
        }
      } finally {
        setSimdKernelsEnabled(true);
      }
    }
  });

  it('fused matMul (dense layer) with bias and relu, transposed and batched', async () => {
    await expectMatchesCpu(
      'fused matMul',
      (x, y, bias) => tf.fused.matMul({ a: x, b: y, transposeA: true, transposeB: false, bias, activation: 'relu' }),
      [randomHost([2, 5, 3]), randomHost([2, 5, 4]), randomHost([4])],
    );
  });
});

describe('transpose matches cpu', () => {
  const cases: Array<{ rank: number; routing: 'auto' | 'js' | 'backend' }> = [];
  for (let rank = 2; rank <= 5; rank++) for (const routing of ['auto', 'js', 'backend'] as const) cases.push({ rank, routing });

  it.each(cases)('rank $rank via $routing', async ({ rank, routing }) => {
    setTransposeRouting(routing);
    try {
      for (let trial = 0; trial < 3; trial++) {
        // Sizes include 1 (dropped by the simplification) and a tile-crossing length (> 32).
        const shape = Array.from({ length: rank }, (_, axis) => (axis === trial % rank ? 37 : randomInt(1, 4)));
        const perm = Array.from({ length: rank }, (_, axis) => axis);
        for (let i = rank - 1; i > 0; i--) {
          const j = randomInt(0, i);
          [perm[i], perm[j]] = [perm[j], perm[i]];
        }
        await expectMatchesCpu(`transpose ${JSON.stringify(shape)} ${JSON.stringify(perm)}`, (x) => tf.transpose(x, perm), [
          randomHost(shape),
        ]);
      }
    } finally {
      setTransposeRouting('auto');
    }
  });

  it('matrices and batches of matrices (kernels.c): sizes around the 4x4 block and 32x32 tile, float32 and int32 bit-exact', async () => {
    for (const shape of [
      [1, 1],
      [3, 5],
      [4, 4],
      [33, 67],
      [64, 32],
      [2, 37, 9],
      [5, 4, 70],
    ]) {
      const perm = shape.length === 2 ? [1, 0] : [0, 2, 1];
      await expectMatchesCpu(`transpose ${JSON.stringify(shape)}`, (x) => tf.transpose(x, perm), [randomHost(shape)]);
      const values = Int32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (i * 2654435761) | 0);
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        return Array.from(tf.tidy(() => tf.transpose(tf.tensor(values, shape, 'int32'), perm).dataSync()));
      };
      expect(await run('wasm'), `int32 ${JSON.stringify(shape)}`).toEqual(await run('cpu'));
    }
  });

  it('copies int32 bit-exactly', async () => {
    await tf.setBackend('wasm');
    const values = Int32Array.from({ length: 2 * 3 * 4 * 5 * 2 }, (_, i) => (i * 2654435761) | 0);
    const result = tf.tidy(() => tf.transpose(tf.tensor(values, [2, 3, 4, 5, 2], 'int32'), [4, 2, 0, 3, 1]).dataSync());
    await tf.setBackend('cpu');
    const expected = tf.tidy(() => tf.transpose(tf.tensor(values, [2, 3, 4, 5, 2], 'int32'), [4, 2, 0, 3, 1]).dataSync());
    expect(Array.from(result)).toEqual(Array.from(expected));
  });
});

describe('unsortedSegmentSum (gradient of gather) matches cpu', () => {
  it('embedding lookup with repeated ids, rank-2 ids, and the op itself', async () => {
    const table = randomHost([7, 5]);
    await expectMatchesCpu('gather', (x) => tf.gather(x, tf.tensor1d([1, 3, 3, 0, 6, 3], 'int32')), [table]);
    await expectMatchesCpu(
      'gather 2-d ids',
      (x) =>
        tf.gather(
          x,
          tf.tensor2d(
            [
              [1, 2],
              [2, 6],
            ],
            [2, 2],
            'int32',
          ),
        ),
      [table],
    );
    await expectMatchesCpu('gather axis 1', (x) => tf.gather(x, tf.tensor1d([4, 0, 4], 'int32'), 1), [table]);
    await expectMatchesCpu('segment sum', (x) => tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, 1, 2, 0, 4], 'int32'), 5), [table]);
  });
});

describe('no leaks', () => {
  it('repeated backward passes keep tensors and wasm buffers flat', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomNormal([3, 8, 8, 4]) as tf.Tensor4D;
    const w = tf.variable(tf.randomNormal([3, 3, 4, 5]));
    const dw = tf.variable(tf.randomNormal([3, 3, 5, 2]));
    const table = tf.variable(tf.randomNormal([10, 6]));
    const ids = tf.tensor1d([1, 2, 2, 9], 'int32');
    const step = (): void => {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const conv = tf.relu(tf.conv2d(x, w as unknown as tf.Tensor4D, 2, 'same'));
          const depthwise = tf.depthwiseConv2d(conv, dw as unknown as tf.Tensor4D, 1, 'same');
          const flat = tf.reshape(depthwise, [3, -1]);
          const embedded = tf.gather(table, ids);
          const attention = tf.matMul(tf.reshape(flat, [3, 4, -1]), tf.reshape(flat, [3, 4, -1]), false, true);
          return tf.add(
            tf.sum(tf.transpose(tf.reshape(attention, [3, 2, 2, 2, 2]), [4, 0, 3, 1, 2])),
            tf.sum(tf.matMul(embedded, embedded, true, false)),
          );
        });
        Object.values(grads).forEach((g) => g.dataSync());
      });
    };
    step();
    const backend = tf.engine().backend;
    const tensorsBefore = tf.memory().numTensors;
    const buffersBefore = backend.numDataIds();
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(backend.numDataIds()).toBe(buffersBefore);
    tf.dispose([x, w, dw, table, ids]);
  });
});

describe('identity (clone) on wasm', () => {
  it('shares the data of its input: no new buffer, values intact after either side is disposed, gradients unchanged', async () => {
    await tf.setBackend('wasm');
    const backend = tf.engine().backend;
    const original = tf.tensor2d([1, -2, 3, 4.5, 0, 7], [2, 3]);
    const buffersBefore = backend.numDataIds();
    const copy = tf.clone(original);
    expect(backend.numDataIds()).toBe(buffersBefore);
    original.dispose();
    expect(Array.from(copy.dataSync())).toEqual([1, -2, 3, 4.5, 0, 7]);
    const second = tf.clone(copy);
    copy.dispose();
    expect(Array.from(second.dataSync())).toEqual([1, -2, 3, 4.5, 0, 7]);
    second.dispose();
    expect(backend.numDataIds()).toBe(buffersBefore - 1);
    // Saved-for-backward tensors are clones: a conv + relu + multiply still matches cpu.
    const x = randomHost([2, 5, 5, 3]);
    const w = randomHost([3, 3, 3, 4]);
    const op = (a: tf.Tensor, b: tf.Tensor): tf.Tensor =>
      tf.mul(tf.relu(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')), a.sum());
    const onWasm = await valueAndGradients('wasm', op, [x, w]);
    const onCpu = await valueAndGradients('cpu', op, [x, w]);
    expectClose(onWasm.value, onCpu.value, 'conv-relu-mul value');
    onWasm.gradients.forEach((gradient, i) => expectClose(gradient, onCpu.gradients[i], `conv-relu-mul gradient ${i}`));
  });

  it('cast to the same dtype shares the data too; casts between dtypes still convert; the relu gradient (which casts) matches cpu', async () => {
    await tf.setBackend('wasm');
    const backend = tf.engine().backend;
    const original = tf.tensor1d([1.5, -2.25, 0, 3]);
    const buffersBefore = backend.numDataIds();
    const same = tf.cast(original, 'float32');
    expect(backend.numDataIds()).toBe(buffersBefore);
    original.dispose();
    expect(Array.from(same.dataSync())).toEqual([1.5, -2.25, 0, 3]);
    const ints = tf.cast(same, 'int32');
    const flags = tf.cast(same, 'bool');
    const back = tf.cast(ints, 'float32');
    expect(backend.numDataIds()).toBe(buffersBefore + 3);
    same.dispose();
    expect(ints.dtype).toBe('int32');
    expect(Array.from(ints.dataSync())).toEqual([1, -2, 0, 3]);
    expect(Array.from(flags.dataSync())).toEqual([1, 1, 0, 1]);
    expect(Array.from(back.dataSync())).toEqual([1, -2, 0, 3]);
    const sameInts = tf.cast(ints, 'int32');
    ints.dispose();
    expect(Array.from(sameInts.dataSync())).toEqual([1, -2, 0, 3]);
    tf.dispose([flags, back, sameInts]);
    expect(backend.numDataIds()).toBe(buffersBefore - 1);
    const x = randomHost([3, 4, 4, 5]);
    const op = (a: tf.Tensor): tf.Tensor => tf.mul(tf.relu(a), tf.cast(tf.step(a), 'float32'));
    const onWasm = await valueAndGradients('wasm', op, [x]);
    const onCpu = await valueAndGradients('cpu', op, [x]);
    expectClose(onWasm.value, onCpu.value, 'relu value');
    expectClose(onWasm.gradients[0], onCpu.gradients[0], 'relu gradient');
  });

  it('clones int32 and bool tensors', async () => {
    await tf.setBackend('wasm');
    const ints = tf.tensor1d([3, -1, 7], 'int32');
    const flags = tf.tensor1d([true, false, true], 'bool');
    const [intCopy, flagCopy] = [tf.clone(ints), tf.clone(flags)];
    tf.dispose([ints, flags]);
    expect(Array.from(intCopy.dataSync())).toEqual([3, -1, 7]);
    expect(Array.from(flagCopy.dataSync())).toEqual([1, 0, 1]);
    expect(intCopy.dtype).toBe('int32');
    tf.dispose([intCopy, flagCopy]);
  });
});

describe('oneHot on wasm', () => {
  it('returns real ones in float32 (the stock kernel writes int bit patterns)', async () => {
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
    const indices = tf.tensor1d([0, 2, 1], 'int32');
    const float = tf.oneHot(indices, 3, 1, 0, 'float32');
    const scaled = tf.oneHot(indices, 3, 5, -1, 'float32');
    expect(float.dtype).toBe('float32');
    expect(Array.from(float.dataSync())).toEqual([1, 0, 0, 0, 0, 1, 0, 1, 0]);
    expect(Array.from(scaled.dataSync())).toEqual([5, -1, -1, -1, -1, 5, -1, 5, -1]);
    expect(Array.from(tf.oneHot(indices, 3).dataSync())).toEqual([1, 0, 0, 0, 0, 1, 0, 1, 0]);
    tf.dispose([indices, float, scaled]);
  });
});

describe('gather with batchDims on wasm', () => {
  it('matches cpu where the stock kernel read out of bounds, with gradients', async () => {
    registerWasmTrainingKernels();
    const rng = new Random(11);
    const cases: Array<{ x: number[]; idx: number[]; axis: number; batchDims: number }> = [
      { x: [17, 256], idx: [17, 1], axis: 1, batchDims: 1 },
      { x: [5, 3, 7, 2], idx: [5, 4], axis: 2, batchDims: 1 },
      { x: [2, 3, 6], idx: [2, 3, 2], axis: 2, batchDims: 2 },
    ];
    for (const c of cases) {
      const xValues = Array.from({ length: c.x.reduce((a, b) => a * b, 1) }, () => rng.normal());
      const axisSize = c.x[c.axis];
      const idxValues = Array.from({ length: c.idx.reduce((a, b) => a * b, 1) }, () => rng.int(axisSize));
      const weights = Array.from({ length: 4096 }, () => rng.normal());
      const run = () => {
        const x = tf.tensor(xValues, c.x);
        const idx = tf.tensor(idxValues, c.idx, 'int32');
        const y = tf.gather(x, idx, c.axis, c.batchDims);
        const w = tf.tensor(weights.slice(0, y.size), y.shape);
        // tfjs-core's own gather gradient supports batchDims = 1 only; batchDims = 2 is checked on values.
        const grad =
          c.batchDims === 1
            ? tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.gather(input, idx, c.axis, c.batchDims), w)))(x)
            : tf.zeros([1]);
        const result = { shape: y.shape, values: Array.from(y.dataSync()), grad: Array.from(grad.dataSync()) };
        tf.dispose([x, idx, y, w, grad]);
        return result;
      };
      const { expected, actual } = await onCpuThenWasm(run);
      expect(actual.shape).toEqual(expected.shape);
      expect(actual.values).toEqual(expected.values);
      actual.grad.forEach((g, i) => expect(g).toBeCloseTo(expected.grad[i], 5));
    }
  });
});

describe('gather (batchDims 0) and reverse on wasm (block copies)', () => {
  it('gather matches cpu on every axis, long and short items, repeated indices, int32, with gradients', async () => {
    registerWasmTrainingKernels();
    const rng = new Random(12);
    const cases: Array<{ x: number[]; idx: number[]; axis: number }> = [
      { x: [9, 5, 4, 3], idx: [6], axis: 0 },
      { x: [7, 28, 28, 1], idx: [3], axis: 0 },
      { x: [4, 6, 5], idx: [2, 3], axis: 1 },
      { x: [3, 4, 10], idx: [7], axis: 2 },
      { x: [11], idx: [11], axis: 0 },
    ];
    for (const c of cases) {
      const xValues = Array.from({ length: c.x.reduce((a, b) => a * b, 1) }, () => rng.normal());
      const idxValues = Array.from({ length: c.idx.reduce((a, b) => a * b, 1) }, () => rng.int(c.x[c.axis]));
      const weights = Array.from({ length: 8192 }, () => rng.normal());
      const run = () => {
        const x = tf.tensor(xValues, c.x);
        const idx = tf.tensor(idxValues, c.idx, 'int32');
        const y = tf.gather(x, idx, c.axis);
        const ints = tf.tidy(() => tf.gather(tf.cast(tf.mul(x, 100), 'int32'), idx, c.axis));
        const w = tf.tensor(weights.slice(0, y.size), y.shape);
        const grad = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.gather(input, idx, c.axis), w)))(x);
        const result = {
          shape: y.shape,
          values: Array.from(y.dataSync()),
          ints: Array.from(ints.dataSync()),
          grad: Array.from(grad.dataSync()),
        };
        tf.dispose([x, idx, y, ints, w, grad]);
        return result;
      };
      const { expected, actual } = await onCpuThenWasm(run);
      expect(actual.shape).toEqual(expected.shape);
      expect(actual.values).toEqual(expected.values);
      expect(actual.ints).toEqual(expected.ints);
      actual.grad.forEach((g, i) => expect(g).toBeCloseTo(expected.grad[i], 5));
    }
  });

  it('gather names an out-of-range index', async () => {
    registerWasmTrainingKernels();
    const x = tf.ones([3, 4]);
    const idx = tf.tensor1d([0, 3], 'int32');
    expect(() => tf.gather(x, idx, 0)).toThrow(/index 3 is out of range \[0, 3\)/);
    tf.dispose([x, idx]);
  });

  it('reverse matches cpu over ranks 1-5, one and several axes, none, int32, with gradients', async () => {
    registerWasmTrainingKernels();
    const rng = new Random(13);
    const cases: Array<{ shape: number[]; axes: number[] }> = [
      { shape: [13], axes: [0] },
      { shape: [5, 7], axes: [1] },
      { shape: [5, 7], axes: [0, 1] },
      { shape: [6, 28, 28, 1], axes: [2] },
      { shape: [3, 5, 4, 20], axes: [1] },
      { shape: [3, 5, 4, 20], axes: [0, 3] },
      { shape: [2, 3, 4, 5, 6], axes: [1, 3] },
      { shape: [4, 3], axes: [] },
    ];
    for (const c of cases) {
      const values = Array.from({ length: c.shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
      const weights = Array.from({ length: values.length }, () => rng.normal());
      const run = () => {
        const x = tf.tensor(values, c.shape);
        const y = tf.reverse(x, c.axes);
        const ints = tf.tidy(() => tf.reverse(tf.cast(tf.mul(x, 100), 'int32'), c.axes));
        const w = tf.tensor(weights, c.shape);
        const grad = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.reverse(input, c.axes), w)))(x);
        const result = { values: Array.from(y.dataSync()), ints: Array.from(ints.dataSync()), grad: Array.from(grad.dataSync()) };
        tf.dispose([x, y, ints, w, grad]);
        return result;
      };
      const { expected, actual } = await onCpuThenWasm(run);
      expect(actual.values).toEqual(expected.values);
      expect(actual.ints).toEqual(expected.ints);
      expect(actual.grad).toEqual(expected.grad);
    }
  });
});

describe('slice and pad on wasm (contiguous-run copies)', () => {
  it('match cpu over ranks 1-5, partial and full axes, with gradients', async () => {
    registerWasmTrainingKernels();
    const rng = new Random(5);
    const cases: Array<{ shape: number[]; begin: number[]; size: number[] }> = [
      { shape: [7], begin: [2], size: [3] },
      { shape: [4, 6], begin: [1, 0], size: [2, 6] },
      { shape: [4, 6], begin: [0, 2], size: [4, 3] },
      { shape: [3, 5, 4], begin: [1, 2, 1], size: [2, 3, 2] },
      { shape: [3, 2, 4, 5, 6], begin: [1, 0, 0, 0, 0], size: [1, 2, 4, 5, 6] },
      { shape: [3, 2, 4, 5, 6], begin: [0, 1, 2, 1, 3], size: [3, 1, 2, 3, 2] },
      { shape: [2, 3], begin: [0, 0], size: [0, 3] },
    ];
    for (const c of cases) {
      const values = Array.from({ length: c.shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
      const paddings = c.shape.map((_, i) => [i % 2, (i + 1) % 3] as [number, number]);
      const run = () => {
        const x = tf.tensor(values, c.shape);
        const sliced = tf.slice(x, c.begin, c.size);
        const padded = tf.pad(x, paddings, 1.5);
        const asInt = tf.cast(x, 'int32');
        const ints = tf.slice(asInt, c.begin, c.size);
        const grad = tf.grad((input: tf.Tensor) => tf.sum(tf.square(tf.slice(input, c.begin, c.size))))(x);
        const result = {
          sliced: Array.from(sliced.dataSync()),
          padded: Array.from(padded.dataSync()),
          paddedShape: padded.shape,
          ints: Array.from(ints.dataSync()),
          grad: Array.from(grad.dataSync()),
        };
        tf.dispose([x, sliced, padded, asInt, ints, grad]);
        return result;
      };
      const { expected, actual } = await onCpuThenWasm(run);
      expect(actual).toEqual(expected);
    }
  });
});

describe('split and unstack on wasm (slices through the run-copy kernel)', () => {
  it('match cpu on every axis, even and uneven splits, int32, with gradients, without leaks', async () => {
    registerWasmTrainingKernels();
    const rng = new Random(6);
    const cases: Array<{ shape: number[]; splits: number | number[]; axis: number }> = [
      { shape: [4, 6], splits: 3, axis: 1 },
      { shape: [4, 6], splits: [1, 3], axis: 0 },
      { shape: [2, 5, 12], splits: 3, axis: -1 },
      { shape: [3, 2, 4, 5], splits: [2, -1], axis: 2 },
      { shape: [3, 4, 2], splits: [0, 4], axis: 1 },
    ];
    for (const c of cases) {
      const values = Array.from({ length: c.shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
      const run = () => {
        const x = tf.tensor(values, c.shape);
        const parts = tf.split(x, c.splits, c.axis);
        const asInt = tf.cast(x, 'int32');
        const ints = tf.split(asInt, c.splits, c.axis);
        const axis = c.axis < 0 ? c.axis + c.shape.length : c.axis;
        const unstacked = tf.unstack(x, axis);
        // Weighted so that the gradient tells the parts apart.
        const grad = tf.grad((input: tf.Tensor) =>
          tf.addN([
            ...tf.split(input, c.splits, c.axis).map((part, i) => tf.mul(tf.sum(tf.square(part)), i + 1)),
            ...tf.unstack(input, axis).map((part, i) => tf.mul(tf.sum(part), i + 0.5)),
          ]),
        )(x);
        const result = {
          parts: parts.map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()) })),
          ints: ints.map((t) => Array.from(t.dataSync())),
          unstacked: unstacked.map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()) })),
          grad: Array.from(grad.dataSync()),
        };
        tf.dispose([x, asInt, ...parts, ...ints, ...unstacked, grad]);
        return result;
      };
      const { expected, actual } = await onCpuThenWasm(run);
      expect(actual.parts).toEqual(expected.parts);
      expect(actual.ints).toEqual(expected.ints);
      expect(actual.unstacked).toEqual(expected.unstacked);
      actual.grad.forEach((v, i) => expect(v).toBeCloseTo(expected.grad[i], 4));
    }
  });
});

describe('broadcasting comparisons, maximum and minimum on wasm (operands expanded by block copies)', () => {
  const shapePairs: Array<[number[], number[]]> = [
    [
      [6, 7],
      [6, 1],
    ],
    [
      [6, 1],
      [1, 7],
    ],
    [
      [2, 1, 3],
      [4, 1],
    ],
    [
      [3, 4, 1, 2],
      [3, 1, 5, 1],
    ],
    [[5], [2, 3, 5]],
  ];
  // Small integers, so that ties (where Equal and the *Equal ops differ from the strict ones) are common.
  const ties = (shape: number[]): HostTensor => ({ shape, values: randomHost(shape).values.map((v) => Math.round(v)) });

  it('comparisons match cpu on float32 and int32 operands', async () => {
    const ops: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
      ['equal', tf.equal],
      ['notEqual', tf.notEqual],
      ['greater', tf.greater],
      ['greaterEqual', tf.greaterEqual],
      ['less', tf.less],
      ['lessEqual', tf.lessEqual],
    ];
    for (const [aShape, bShape] of shapePairs) {
      const inputs = [ties(aShape), ties(bShape)];
      for (const dtype of ['float32', 'int32'] as const) {
        for (const [name, op] of ops) {
          const run = async (backend: string): Promise<Uint8Array | Int32Array> => {
            await tf.setBackend(backend);
            return tf.tidy(
              () =>
                op(
                  tf.tensor(inputs[0].values, inputs[0].shape, dtype),
                  tf.tensor(inputs[1].values, inputs[1].shape, dtype),
                ).dataSync() as Uint8Array,
            );
          };
          expect(Array.from(await run('wasm')), `${name} ${dtype} ${aShape} vs ${bShape}`).toEqual(Array.from(await run('cpu')));
        }
      }
    }
  });

  it('maximum and minimum match cpu (values: tfjs defines their gradients for equal shapes only)', async () => {
    for (const [aShape, bShape] of shapePairs) {
      for (const [name, op] of [
        ['maximum', tf.maximum],
        ['minimum', tf.minimum],
      ] as const) {
        const inputs = [ties(aShape), ties(bShape)];
        await expectValuesMatchCpu(`${name} ${aShape} vs ${bShape}`, (a, b) => op(a, b), inputs);
      }
    }
  });
});

describe('SIMD kernels (kernels.c on the tfjs heap)', () => {
  it('run on this wasm backend, so the tests above exercise them', async () => {
    await tf.setBackend('wasm');
    expect(simdKernels(asWasmBackend(tf.backend()))).toBeDefined();
  });

  it('kernels.generated.ts was built from the kernels.c in the tree (pnpm --filter @ssl/core build:simd)', () => {
    const source = readFileSync(fileURLToPath(new URL('./simd/kernels.c', import.meta.url)));
    expect(createHash('sha256').update(source).digest('hex')).toBe(SIMD_KERNELS_SOURCE_SHA256);
  });

  it('sum, mean and the maxPool gradient match cpu without them too (the JS fallback)', async () => {
    setSimdKernelsEnabled(false);
    try {
      const input = randomHost([4, 6, 6, 8]);
      await expectMatchesCpu('sum without SIMD', (x) => tf.sum(x, [0, 1, 2]), [input]);
      await expectMatchesCpu('mean without SIMD', (x) => tf.mean(x, [0, 1, 2]), [input]);
      await expectMatchesCpu('maxPool without SIMD', (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), [input]);
      await expectMatchesCpu('conv without SIMD', (a, w) => tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), [
        randomHost([2, 6, 5, 9]),
        randomHost([3, 3, 9, 4]),
      ]);
    } finally {
      setSimdKernelsEnabled(true);
    }
  });
});

describe('sum/mean over leading axes and maxPool gradient on wasm', () => {
  it('sum and mean match cpu for leading-axis, trailing-axis and full reductions, keepDims or not', async () => {
    const cases: Array<{ shape: number[]; axes: number[] }> = [
      { shape: [5, 3], axes: [0] },
      { shape: [4, 6, 6, 8], axes: [0, 1, 2] },
      { shape: [4, 6, 6, 8], axes: [2, 1, 0] },
      { shape: [3, 5, 7], axes: [0] },
      { shape: [3, 5, 7], axes: [1] },
      { shape: [3, 5, 7], axes: [0, 1, 2] },
      { shape: [9], axes: [0] },
    ];
    for (const { shape, axes } of cases) {
      for (const keepDims of [false, true]) {
        const input = randomHost(shape);
        await expectMatchesCpu(`sum ${shape} over ${axes} keepDims ${keepDims}`, (x) => tf.sum(x, axes, keepDims), [input]);
        await expectMatchesCpu(`mean ${shape} over ${axes} keepDims ${keepDims}`, (x) => tf.mean(x, axes, keepDims), [input]);
      }
    }
  });

  it('maxPool gradient matches cpu: 2x2/2 valid, 3x3/2 same (overlapping windows), 3x3/1 same, odd sizes, batch 1 and 3', async () => {
    const cases: Array<{ shape: [number, number, number, number]; size: number; stride: number; pad: 'valid' | 'same' }> = [
      { shape: [3, 8, 8, 4], size: 2, stride: 2, pad: 'valid' },
      { shape: [1, 7, 9, 3], size: 2, stride: 2, pad: 'valid' },
      { shape: [2, 6, 8, 7], size: 2, stride: 2, pad: 'valid' },
      { shape: [2, 7, 5, 6], size: 2, stride: 2, pad: 'same' },
      { shape: [3, 9, 7, 5], size: 3, stride: 2, pad: 'same' },
      { shape: [1, 6, 6, 2], size: 3, stride: 1, pad: 'same' },
    ];
    for (const c of cases) {
      await expectMatchesCpu(
        `maxPool ${c.shape} ${c.size}/${c.stride} ${c.pad}`,
        (x) => tf.maxPool(x as tf.Tensor4D, c.size, c.stride, c.pad),
        [randomHost(c.shape)],
      );
    }
    // Ties (as after a ReLU): the first maximum in window order takes the whole gradient, as on cpu.
    const ties: HostTensor = { shape: [1, 4, 4, 1], values: new Float32Array([0, 0, 1, 1, 0, 0, 1, 1, 2, 0, 0, 0, 0, 2, 0, 0]) };
    await expectMatchesCpu('maxPool with ties', (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), [ties]);
  });
});

describe('batch norm at inference (FusedBatchNorm) on wasm', () => {
  it('matches cpu with and without offset/scale, channels with and without a SIMD tail, rank 2 and 4; other statistic shapes take the stock kernel', async () => {
    for (const shape of [
      [3, 5, 5, 8],
      [2, 4, 4, 7],
      [6, 3],
      [1, 2, 2, 1],
    ]) {
      const channels = shape[shape.length - 1];
      const positive = (h: HostTensor): HostTensor => ({ shape: h.shape, values: h.values.map((v) => Math.abs(v) + 0.1) });
      const stats = [randomHost([channels]), positive(randomHost([channels])), randomHost([channels]), randomHost([channels])];
      await expectMatchesCpu(`batchNorm ${shape}`, (x, m, v, o, s) => tf.batchNorm(x, m, v, o, s, 1e-3), [randomHost(shape), ...stats]);
      // Values only: tfjs cannot record the gradient of batchNorm without offset and scale, on any backend.
      const bare = (x: tf.Tensor, m: tf.Tensor, v: tf.Tensor) => tf.batchNorm(x, m, v, undefined, undefined, 1e-3);
      const inputs = [randomHost(shape), stats[0], stats[1]];
      await expectValuesMatchCpu(`batchNorm ${shape} without offset/scale`, bare, inputs);
    }
    // Statistics broadcast over all but the first axis (not per channel): the stock kernel's path.
    const x = randomHost([4, 3]);
    const broadcastOp = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor) => tf.batchNorm(a, m, v, undefined, undefined, 1e-3);
    const broadcastInputs = [x, randomHost([4, 1]), { shape: [4, 1], values: Float32Array.from([1, 2, 3, 4]) }];
    await expectValuesMatchCpu('batchNorm with [4,1] statistics', broadcastOp, broadcastInputs);
  });
});
