/**
 * Test helpers: run an op on the wasm and cpu backends from the same host data and compare values and
 * gradients with the kernel tests' bound (2e-5·√n + 1e-5 relative to the largest value of the cpu result).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

import { Random } from '../../random';

export interface HostTensor {
  shape: number[];
  values: Float32Array;
}

export function randomHost(shape: number[], seed: number): HostTensor {
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

export async function expectMatchesCpu(
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
