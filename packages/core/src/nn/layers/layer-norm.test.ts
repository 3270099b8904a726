import '../../setup';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';

import { SslError } from '../../errors';
import { registerWasmTrainingKernels } from '../../backend/kernels';
import { GELU_EXACT_FORWARD, geluKernelsAvailable } from '../../backend/kernels/gelu';
import { simdKernelRunsHere } from '../../backend/kernels/simd-kernel-access';
import { gelu, geluTanh, layerNorm } from './common';
import { LayerNorm } from './layer-norm';

/** Layer norm as tf.moments composes it: the reference the closed-form gradient must reproduce. */
function layerNormByMoments(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, epsilon))), gamma), beta);
}

describe('layerNorm', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it('values and gradients (x, γ, β) equal the tf.moments composition for ranks 2 and 3', async () => {
    for (const shape of [
      [4, 6],
      [3, 5, 8],
      [1, 1, 3],
    ]) {
      const width = shape[shape.length - 1];
      const x = tf.randomNormal(shape, 1, 2, 'float32', 3);
      const gamma = tf.randomNormal([width], 1, 0.3, 'float32', 4);
      const beta = tf.randomNormal([width], 0, 0.3, 'float32', 5);
      const dy = tf.randomNormal(shape, 0, 1, 'float32', 6);
      const gradients = (f: typeof layerNorm) =>
        tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, g, b, 1e-5), dy)))([x, gamma, beta]);
      const value = await layerNorm(x, gamma, beta, 1e-5).data();
      const expected = await layerNormByMoments(x, gamma, beta, 1e-5).data();
      expected.forEach((v, i) => expect(value[i]).toBeCloseTo(v, 4));
      const actual = gradients(layerNorm);
      const reference = gradients(layerNormByMoments);
      for (let k = 0; k < 3; k++) {
        expect(actual[k].shape).toEqual(reference[k].shape);
        const [a, r] = [await actual[k].data(), await reference[k].data()];
        r.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 3));
      }
      tf.dispose([x, gamma, beta, dy, ...actual, ...reference]);
    }
  });

  it('leaves no tensors behind in a backward pass', () => {
    const x = tf.randomNormal([2, 3, 4]);
    const gamma = tf.ones([4]);
    const beta = tf.zeros([4]);
    const run = () =>
      tf.dispose(tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(layerNorm(a, g, b, 1e-6))))([x, gamma, beta]));
    run();
    const before = tf.memory().numTensors;
    run();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, gamma, beta]);
  });
});

describe('LayerNorm layer', () => {
  it('gives the same outputs and weight gradients as tfjs-layers layerNormalization, and survives a save/load round trip', async () => {
    await tf.setBackend('wasm');
    const build = (norm: tfl.layers.Layer) => {
      const input = tfl.input({ shape: [5, 8] });
      return tfl.model({ inputs: input, outputs: norm.apply(input) as tfl.SymbolicTensor });
    };
    const ours = build(new LayerNorm({ epsilon: 1e-5 }));
    const stock = build(tfl.layers.layerNormalization({ epsilon: 1e-5 }));
    // Non-trivial γ, β in both.
    const gamma = tf.randomNormal([8], 1, 0.3, 'float32', 7);
    const beta = tf.randomNormal([8], 0, 0.3, 'float32', 8);
    ours.setWeights([gamma, beta]);
    stock.setWeights([gamma, beta]);
    const x = tf.randomNormal([3, 5, 8], 0.5, 2, 'float32', 9);
    const dy = tf.randomNormal([3, 5, 8], 0, 1, 'float32', 10);
    const weightGrads = (model: tfl.LayersModel) =>
      tf.variableGrads(
        () => tf.sum(tf.mul(model.apply(x) as tf.Tensor, dy)) as tf.Scalar,
        model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val),
      );
    const [a, b] = [weightGrads(ours), weightGrads(stock)];
    expect(Array.from(await a.value.data())[0]).toBeCloseTo((await b.value.data())[0], 3);
    const [gradsA, gradsB] = [Object.values(a.grads), Object.values(b.grads)];
    expect(gradsA.length).toBe(2);
    for (let k = 0; k < 2; k++) {
      const [ga, gb] = [await gradsA[k].data(), await gradsB[k].data()];
      gb.forEach((v, i) => expect(ga[i]).toBeCloseTo(v, 3));
    }

    const restored = await tfl.models.modelFromJSON({
      modelTopology: ours.toJSON(null, false) as unknown as tf.io.ModelJSON['modelTopology'],
    });
    restored.setWeights(ours.getWeights());
    const [expected, actual] = [ours.predict(x) as tf.Tensor, restored.predict(x) as tf.Tensor];
    expect(Array.from(await actual.data())).toEqual(Array.from(await expected.data()));
    expect((restored.layers[1] as LayerNorm).epsilon).toBe(1e-5);
    tf.dispose([gamma, beta, x, dy, a.value, b.value, ...gradsA, ...gradsB, expected, actual]);
    [ours, stock, restored].forEach((model) => model.dispose());
  });

  it('rejects a non-positive epsilon', () => {
    expect(() => new LayerNorm({ epsilon: 0 })).toThrow(SslError);
    expect(() => new LayerNorm({ epsilon: 0 })).toThrow(/epsilon/);
  });
});

describe('gelu', () => {
  it('exact and tanh forms: values and gradients equal the composed formulas', async () => {
    await tf.setBackend('wasm');
    const x = tf.linspace(-5, 5, 101);
    const exactComposed = (a: tf.Tensor) => tf.mul(tf.mul(a, 0.5), tf.add(1, tf.erf(tf.div(a, Math.SQRT2))));
    const tanhComposed = (a: tf.Tensor) =>
      tf.mul(tf.mul(a, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(a, tf.mul(0.044715, tf.pow(a, 3)))))));
    for (const [fast, composed] of [
      [gelu, exactComposed],
      [geluTanh, tanhComposed],
    ] as const) {
      const [value, expected] = [await fast(x).data(), await composed(x).data()];
      expected.forEach((v, i) => expect(value[i]).toBeCloseTo(v, 5));
      const [gradient, expectedGradient] = [await tf.grad(fast)(x).data(), await tf.grad(composed)(x).data()];
      expectedGradient.forEach((v, i) => expect(gradient[i]).toBeCloseTo(v, 4));
    }
    // The two forms agree to ~1e-3 (the approximation's known error).
    const gap = await tf.max(tf.abs(tf.sub(gelu(x), geluTanh(x)))).data();
    expect(gap[0]).toBeLessThan(2e-3);
  });
});

describe('gelu (exact) on wasm (one-pass SIMD forward)', () => {
  it('takes the kernel path in and out of a gradient and matches the composed form on cpu: values, gradients, no leaks', async () => {
    registerWasmTrainingKernels();
    // Above the size where the helper thread takes half, with a scalar tail; extremes where erf saturates.
    const values = [
      -90,
      -9,
      -4,
      -1,
      -0.3,
      0,
      2e-4,
      0.7,
      1.9,
      5,
      12,
      90,
      ...Array.from({ length: 70_001 }, (_, i) => Math.sin(i * 0.9) * 5),
    ];
    const dyValues = values.map((_, i) => Math.cos(i * 0.3));
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor1d(values);
        const dy = tf.tensor1d(dyValues);
        const { value, grad } = tf.valueAndGrad((input: tf.Tensor) => tf.sum(tf.mul(gelu(input), dy)))(x);
        const inference = gelu(x);
        const usesKernel = simdKernelRunsHere(GELU_EXACT_FORWARD);
        return { y: Array.from(inference.dataSync()), loss: value.dataSync()[0], dx: Array.from(grad.dataSync()), usesKernel };
      });
    await tf.setBackend('cpu');
    const expected = run();
    expect(expected.usesKernel).toBe(false);
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const actual = run();
    expect(tf.memory().numTensors).toBe(before);
    expect(actual.usesKernel).toBe(true);
    const maxGap = (a: number[], b: number[]) => a.reduce((gap, v, i) => Math.max(gap, Math.abs(v - b[i])), 0);
    expect(maxGap(actual.y, expected.y)).toBeLessThan(2e-5);
    expect(maxGap(actual.dx, expected.dx)).toBeLessThan(2e-5);
    expect(Math.abs(actual.loss - expected.loss)).toBeLessThan(1e-4 * Math.abs(expected.loss));
    expect(actual.y.every(Number.isFinite) && actual.dx.every(Number.isFinite)).toBe(true);
  });

  it('runs one kernel in inference and keeps Φ(x) only under a gradient', async () => {
    await tf.setBackend('wasm');
    registerWasmTrainingKernels();
    const x = tf.randomNormal([64, 128], 0, 2, 'float32', 5);
    const profile = await tf.profile(() => tf.tidy(() => gelu(x).dataSync()));
    expect(profile.kernels.map((k) => k.name)).toEqual([GELU_EXACT_FORWARD]);
    let saved = -1;
    tf.tidy(() => {
      tf.grad((input: tf.Tensor) => {
        const y = gelu(input);
        const tape = (tf.engine() as unknown as { state: { activeTape: Array<{ outputs: tf.Tensor[]; saved?: tf.Tensor[] }> } }).state
          .activeTape;
        saved = tape.find((node) => node.outputs.some((output) => output.id === y.id))?.saved?.length ?? -1;
        return tf.sum(y);
      })(x);
    });
    expect(saved).toBe(2);
    x.dispose();
  });
});

describe('geluTanh on wasm (one-pass SIMD kernels)', () => {
  it('takes the kernel path and matches the composed form on cpu: values and gradients, extremes, odd sizes, no leaks', async () => {
    registerWasmTrainingKernels();
    // 3 · 33 335 values: above the size where the helper thread takes half, with a scalar tail.
    const values = [
      -90,
      -30,
      -8,
      -3.3,
      -1,
      -0.25,
      0,
      1e-4,
      0.5,
      1.7,
      4,
      9,
      30,
      90,
      ...Array.from({ length: 99_991 }, (_, i) => Math.sin(i * 1.3) * 6),
    ];
    const dyValues = values.map((_, i) => Math.cos(i * 0.7));
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor2d(values, [3, values.length / 3]);
        const dy = tf.tensor2d(dyValues, x.shape);
        const { value, grad } = tf.valueAndGrad((input: tf.Tensor) => tf.sum(tf.mul(geluTanh(input), dy)))(x);
        return { y: Array.from(geluTanh(x).dataSync()), loss: value.dataSync()[0], dx: Array.from(grad.dataSync()) };
      });
    await tf.setBackend('cpu');
    expect(geluKernelsAvailable()).toBe(false);
    const expected = run();
    await tf.setBackend('wasm');
    expect(geluKernelsAvailable()).toBe(true);
    const before = tf.memory().numTensors;
    const actual = run();
    expect(tf.memory().numTensors).toBe(before);
    const maxGap = (a: number[], b: number[]) => a.reduce((gap, v, i) => Math.max(gap, Math.abs(v - b[i])), 0);
    expect(maxGap(actual.y, expected.y)).toBeLessThan(2e-5);
    expect(maxGap(actual.dx, expected.dx)).toBeLessThan(2e-5);
    expect(Math.abs(actual.loss - expected.loss)).toBeLessThan(1e-4 * Math.abs(expected.loss)); // 10⁵ float32 terms summed in different orders
    expect(actual.y.every(Number.isFinite) && actual.dx.every(Number.isFinite)).toBe(true);
  });

  it('keeps only its input for the backward (the gate is recomputed there)', () => {
    registerWasmTrainingKernels();
    let savedByGelu = -1;
    tf.tidy(() => {
      const x = tf.randomNormal([64, 256], 0, 2, 'float32', 3);
      tf.grad((input: tf.Tensor) => {
        const y = geluTanh(input);
        const tape = (tf.engine() as unknown as { state: { activeTape: Array<{ outputs: tf.Tensor[]; saved?: tf.Tensor[] }> } }).state
          .activeTape;
        savedByGelu = tape.find((node) => node.outputs.some((output) => output.id === y.id))?.saved?.length ?? -1;
        return tf.sum(y);
      })(x);
    });
    expect(savedByGelu).toBe(1);
  });
});
