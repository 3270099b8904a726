import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { klDivergence, virtualAdversarialPerturbation } from './virtual-adversarial';
import { Random, expectClose, expectNoLeak, expectSslError, numericGradient, randomValues, useCpuBackend } from '@ssl/test-utils';

function softmax(row: ArrayLike<number>): number[] {
  const values = Array.from(row);
  const max = Math.max(...values);
  const e = values.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / sum);
}

/** 1/N Σ_b Σ_k p log(p / softmax(z)), in float64 loops. */
function referenceKl(p: number[][], logits: ArrayLike<number>, k: number): number {
  let total = 0;
  p.forEach((row, b) => {
    const q = softmax(Array.from({ length: k }, (_, c) => logits[b * k + c]));
    row.forEach((v, c) => (total += v > 0 ? v * Math.log(v / q[c]) : 0));
  });
  return total / p.length;
}

describe('klDivergence', () => {
  beforeAll(useCpuBackend);
  const [n, k] = [3, 4];
  const p = [softmax([1, 0, -1, 0.5]), [1, 0, 0, 0], softmax([0, 0, 0, 0])];
  const logits = randomValues(new Random(3), n * k, 1.5);

  it('equals the plain-loop reference, is 0 when the logits give p, and has its gradient (finite differences)', () => {
    const value = tf.tidy(() => klDivergence(tf.tensor2d(p), tf.tensor2d(logits, [n, k])).dataSync()[0]);
    expectClose(value, referenceKl(p, logits, k), { relative: 1e-5 });
    const same = tf.tidy(() => klDivergence(tf.tensor2d([softmax([1, 2, 3, 4])]), tf.tensor2d([[1, 2, 3, 4]])).dataSync()[0]);
    expect(Math.abs(same)).toBeLessThan(1e-6);
    const gradient = tf.tidy(() =>
      tf
        .grad((z: tf.Tensor) => klDivergence(tf.tensor2d(p), z as tf.Tensor2D))(tf.tensor2d(logits, [n, k]))
        .dataSync(),
    );
    const [expected] = numericGradient(([z]) => referenceKl(p, z, k), [logits]);
    expectClose(gradient, expected, { absolute: 1e-6, relative: 1e-3 });
  });
});

describe('virtualAdversarialPerturbation', () => {
  beforeAll(useCpuBackend);
  // A linear model on 2×2×1 images: logits = flatten(x) W.
  const [n, pixels, k] = [2, 4, 3];
  const weights = randomValues(new Random(8), pixels * k, 1);
  const images = randomValues(new Random(9), n * pixels, 1);
  const noise = randomValues(new Random(10), n * pixels, 1);
  const forward = (x: tf.Tensor4D) => tf.matMul(tf.reshape(x, [x.shape[0], pixels]), tf.tensor2d(weights, [pixels, k])) as tf.Tensor2D;
  const logitsOf = (x: ArrayLike<number>, b: number) =>
    Array.from({ length: k }, (_, c) => {
      let z = 0;
      for (let i = 0; i < pixels; i++) z += x[b * pixels + i] * weights[i * k + c];
      return z;
    });
  const targets = [0, 1].map((b) => softmax(logitsOf(images, b)));

  it('points along the finite-difference gradient of D(p, f(x + r)) at r = ξd, with norm ε per image', () => {
    const xi = 1e-2;
    const epsilon = 0.7;
    const perturbation = tf.tidy(() =>
      virtualAdversarialPerturbation(forward, tf.tensor4d(images, [n, 2, 2, 1]), tf.tensor2d(targets), {
        xi,
        epsilon,
        iterations: 1,
        noise: tf.tensor4d(noise, [n, 2, 2, 1]),
      }).dataSync(),
    );
    // The reference: d = noise / ‖noise‖ per image, g = ∇_r D at r = ξd by central differences, r = ε g / ‖g‖.
    for (let b = 0; b < n; b++) {
      const d = Array.from(noise.slice(b * pixels, (b + 1) * pixels));
      const norm = Math.hypot(...d);
      const start = Float64Array.from(d.map((v) => (xi * v) / norm));
      const divergence = ([r]: Float64Array[]) => {
        const shifted = Array.from({ length: pixels }, (_, i) => images[b * pixels + i] + r[i]);
        return referenceKl([targets[b]], logitsOf(shifted, 0), k);
      };
      const [g] = numericGradient(divergence, [start], 1e-5);
      const gNorm = Math.hypot(...g);
      const expected = Float64Array.from(g, (v) => (epsilon * v) / gNorm);
      expectClose(perturbation.slice(b * pixels, (b + 1) * pixels), expected, { absolute: 2e-3, relative: 1e-2 });
      expect(Math.hypot(...perturbation.slice(b * pixels, (b + 1) * pixels))).toBeCloseTo(epsilon, 4);
    }
  });

  it('increases the divergence more than a random direction of the same norm, for ξ from 1e-4 to 1e-2 (with 1e-6, float32 rounding swamps the finite difference: 0.0098 vs 0.034)', () => {
    for (const xi of [1e-4, 1e-3, 1e-2]) {
      const [adversarial, random] = tf.tidy(() => {
        const x = tf.tensor4d(images, [n, 2, 2, 1]);
        // The target from the same float32 forward, as in VAT: with ξ = 1e-6 the divergence's gradient is a
        // difference of nearly equal probabilities, which a target rounded elsewhere would swamp.
        const p = tf.softmax(forward(x)) as tf.Tensor2D;
        const r = virtualAdversarialPerturbation(forward, x, p, {
          xi,
          epsilon: 0.5,
          iterations: 1,
          noise: tf.tensor4d(noise, [n, 2, 2, 1]),
        });
        const other = tf.tensor4d(randomValues(new Random(99), n * pixels, 1), [n, 2, 2, 1]);
        const randomR = tf.mul(tf.div(other, tf.sqrt(tf.sum(tf.square(other), [1, 2, 3], true))), 0.5);
        return [klDivergence(p, forward(tf.add(x, r) as tf.Tensor4D)), klDivergence(p, forward(tf.add(x, randomR) as tf.Tensor4D))].map(
          (t) => t.dataSync()[0],
        );
      });
      expect(adversarial).toBeGreaterThan(random);
    }
  });

  it('passes no gradient back through the perturbation, leaves no tensors behind and rejects a wrong noise shape', () => {
    const x = tf.tensor4d(images, [n, 2, 2, 1]);
    const p = tf.tensor2d(targets);
    const options = { xi: 1e-6, epsilon: 1, iterations: 1, noise: tf.tensor4d(noise, [n, 2, 2, 1]) };
    expectNoLeak(() => virtualAdversarialPerturbation(forward, x, p, options));
    // ∂/∂x Σ (x + r(x)) = 1: r is a constant for the gradient.
    const gradient = tf.tidy(() =>
      tf
        .grad((images: tf.Tensor) => tf.sum(tf.add(images, virtualAdversarialPerturbation(forward, images as tf.Tensor4D, p, options))))(x)
        .dataSync(),
    );
    expect(Array.from(gradient).every((g) => g === 1)).toBe(true);
    const wrong = tf.zeros([n, 2, 2, 2]) as tf.Tensor4D;
    expectSslError(() => virtualAdversarialPerturbation(forward, x, p, { ...options, noise: wrong }), 'shape-mismatch');
    tf.dispose([x, p, options.noise, wrong]);
  });
});
