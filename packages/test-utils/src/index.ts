import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// The gradients of every tfjs op come with @ssl/core (from sources its setup.ts imports the @tensorflow/tfjs union
// package; the published entry bundles tfjs-core's registrations). Not imported here from tfjs-core's deep
// dist/register_all_gradients: an ESM file with extensionless imports, which Node cannot load outside vitest
// (ERR_UNSUPPORTED_DIR_IMPORT when a plain tsx script imported @ssl/test-utils).
import { Random } from '@ssl/core';
import { expect } from 'vitest';

/*
 * Test-only helpers for the loss and block tests of the @ssl packages: float32 random inputs, a float64
 * central-difference gradient of the plain-loop reference, element-wise closeness with a useful failure
 * message, a leak check, an optimizer-steps check and an SslError check; and `describeMethodContract`, the
 * tests every method runs. A private workspace package (devDependency only); importing it registers the cpu
 * backend and (through @ssl/core) the gradients of every tfjs op.
 */

/** Gradient checks run on the reference cpu backend. */
export async function useCpuBackend(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** Normal random values rounded to float32, so tfjs and the float64 reference see the same numbers. */
export function randomValues(rng: Random, size: number, std = 1, mean = 0): Float32Array {
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = rng.normal(mean, std);
  return values;
}

/**
 * Central differences of a float64 function: ∂f/∂inputs[a][i] ≈ (f(x + h e_i) − f(x − h e_i)) / 2h.
 * Computed on the plain-loop reference in float64, so truncation and round-off stay far below float32 noise.
 */
export function numericGradient(f: (inputs: Float64Array[]) => number, inputs: ArrayLike<number>[], step = 1e-6): Float64Array[] {
  const point = inputs.map((values) => Float64Array.from(values));
  return point.map((values) => {
    const gradient = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const original = values[i];
      values[i] = original + step;
      const up = f(point);
      values[i] = original - step;
      const down = f(point);
      values[i] = original;
      gradient[i] = (up - down) / (2 * step);
    }
    return gradient;
  });
}

/** |actual − expected| ≤ absolute + relative·|expected| element-wise; names the first bad index. */
export function expectClose(
  actual: ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  tolerance: { absolute?: number; relative?: number } = {},
): void {
  const absolute = tolerance.absolute ?? 1e-5;
  const relative = tolerance.relative ?? 1e-4;
  const a = typeof actual === 'number' ? [actual] : Array.from(actual);
  const e = typeof expected === 'number' ? [expected] : Array.from(expected);
  expect(a.length, 'length').toBe(e.length);
  for (let i = 0; i < a.length; i++) {
    const ok = Number.isFinite(a[i]) && Math.abs(a[i] - e[i]) <= absolute + relative * Math.abs(e[i]);
    if (!ok) {
      throw new Error(
        `element ${i}: got ${a[i]}, expected ${e[i]} (|diff| ${Math.abs(a[i] - e[i])}, tolerance ${absolute} + ${relative}·|expected|)`,
      );
    }
  }
}

/** Calls `run`, disposes what it returns, and checks that no tensor was left behind. */
export function expectNoLeak(run: () => tf.TensorContainer): void {
  const before = tf.memory().numTensors;
  tf.dispose(run());
  expect(tf.memory().numTensors).toBe(before);
}

/** Runs a few optimizer steps on `variables` and returns the loss before and after. */
export function lossBeforeAndAfter(
  loss: () => tf.Scalar,
  variables: tf.Variable[],
  optimizer: tf.Optimizer,
  steps: number,
): { before: number; after: number } {
  const before = tf.tidy(() => loss().dataSync()[0]);
  for (let step = 0; step < steps; step++) {
    optimizer.minimize(loss, false, variables);
  }
  const after = tf.tidy(() => loss().dataSync()[0]);
  return { before, after };
}

/** Expects `run` to throw an SslError with `code`, and returns its message for further checks. */
export function expectSslError(run: () => unknown, code: string): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    expect((error as { name?: string }).name).toBe('SslError');
    expect((error as { code?: string }).code).toBe(code);
    return (error as Error).message;
  }
  throw new Error(`expected an SslError with code ${code}, but nothing was thrown`);
}

export { Random };

export { describeMethodContract } from './method-contract';
export type { MethodContractOptions } from './method-contract';
export { contractData } from './contract-run';
export type { DataRecipe, ImageRecipe, ImageTextRecipe, SemiSupervisedRecipe, TextRecipe } from './contract-run';
export { testBuildContext, testStepContext, sampleIds, disposeTestRuntime } from './method-parts';
export { learningRun, describeLearningRun, LEARNING_ENCODER } from './learning-run';
export type { LearningRun, LearningOptions } from './learning-run';
