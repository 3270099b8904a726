import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { SslError } from '../errors';
import type { OptimizerSpec } from '../method';
import { clipByGlobalNorm, createOptimizer } from './optimizers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Runs `steps` updates of a matrix weight and a bias with fixed gradients; returns both. */
function run(spec: OptimizerSpec, steps: number, lr: number): { w: number[]; b: number[] } {
  const w = tf.variable(
    tf.tensor2d([
      [1, -2],
      [3, 0.5],
    ]),
  );
  const b = tf.variable(tf.tensor1d([0.5, -0.5]));
  const opt = createOptimizer(spec, [w, b]);
  const gw = tf.tensor2d([
    [0.1, 0.2],
    [-0.25, 0.4],
  ]);
  const gb = tf.tensor1d([1, -1]);
  for (let i = 0; i < steps; i++) opt.apply([gw, gb], lr);
  const out = { w: Array.from(w.dataSync()), b: Array.from(b.dataSync()) };
  tf.dispose([w, b, gw, gb]);
  opt.dispose();
  return out;
}

/** Plain-number reference of the same updates. */
function reference(kind: string, steps: number, lr: number, hp: Record<string, number | boolean>): { w: number[]; b: number[] } {
  const w = [1, -2, 3, 0.5];
  const b = [0.5, -0.5];
  const gw = [0.1, 0.2, -0.25, 0.4];
  const gb = [1, -1];
  const params = [
    { p: w, g: gw, decay: true, m: [0, 0, 0, 0], v: [0, 0, 0, 0] },
    { p: b, g: gb, decay: false, m: [0, 0], v: [0, 0] },
  ];
  const wd = (hp.weightDecay as number) ?? 0;
  for (let t = 1; t <= steps; t++) {
    for (const s of params) {
      const decay = s.decay ? wd : 0;
      if (kind === 'sgd') {
        const mom = hp.momentum as number;
        for (let i = 0; i < s.p.length; i++) {
          const g = s.g[i] + decay * s.p[i];
          s.m[i] = mom * s.m[i] + g;
          const u = hp.nesterov ? g + mom * s.m[i] : s.m[i];
          s.p[i] -= lr * u;
        }
      } else if (kind === 'adamw' || kind === 'adam') {
        const [b1, b2, eps] = [0.9, 0.999, 1e-8];
        for (let i = 0; i < s.p.length; i++) {
          const g = kind === 'adam' ? s.g[i] + decay * s.p[i] : s.g[i];
          s.m[i] = b1 * s.m[i] + (1 - b1) * g;
          s.v[i] = b2 * s.v[i] + (1 - b2) * g * g;
          const mh = s.m[i] / (1 - b1 ** t);
          const vh = s.v[i] / (1 - b2 ** t);
          const old = s.p[i];
          s.p[i] -= (lr * mh) / (Math.sqrt(vh) + eps);
          if (kind === 'adamw') s.p[i] -= lr * decay * old;
        }
      } else if (kind === 'lars') {
        const mom = hp.momentum as number;
        const eta = hp.trustCoefficient as number;
        const g = s.g.map((gi, i) => gi + decay * s.p[i]);
        let ratio = 1;
        if (s.decay) {
          const wn = Math.hypot(...s.p);
          const gn = Math.hypot(...g);
          ratio = (eta * wn) / gn;
        }
        for (let i = 0; i < s.p.length; i++) {
          s.m[i] = mom * s.m[i] + g[i] * ratio;
          s.p[i] -= lr * s.m[i];
        }
      }
    }
  }
  return { w, b };
}

describe('optimizers', () => {
  const cases: Array<[string, OptimizerSpec, Record<string, number | boolean>]> = [
    ['sgd momentum', { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 }, { momentum: 0.9, weightDecay: 0.01 }],
    ['sgd nesterov', { kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true }, { momentum: 0.9, nesterov: true }],
    ['adam with L2', { kind: 'adam', lr: 0.01, weightDecay: 0.1 }, { weightDecay: 0.1 }],
    ['adamw decoupled decay', { kind: 'adamw', lr: 0.01, weightDecay: 0.1 }, { weightDecay: 0.1 }],
    [
      'lars',
      { kind: 'lars', lr: 0.5, momentum: 0.9, weightDecay: 1e-4, trustCoefficient: 0.001 },
      { momentum: 0.9, weightDecay: 1e-4, trustCoefficient: 0.001 },
    ],
  ];
  for (const [name, spec, hp] of cases) {
    it(`${name} matches a plain-number reference over 5 steps`, () => {
      const got = run(spec, 5, spec.lr);
      const want = reference(spec.kind, 5, spec.lr, hp);
      got.w.forEach((v, i) => expect(v).toBeCloseTo(want.w[i], 5));
      got.b.forEach((v, i) => expect(v).toBeCloseTo(want.b[i], 5));
    });
  }

  it('excludes biases from weight decay (adamw with zero gradient only decays matrices)', () => {
    const w = tf.variable(tf.ones([2, 2]));
    const b = tf.variable(tf.ones([2]));
    const opt = createOptimizer({ kind: 'adamw', lr: 0.1, weightDecay: 0.5 }, [w, b]);
    opt.apply([tf.zeros([2, 2]), tf.zeros([2])], 0.1);
    expect(w.dataSync()[0]).toBeCloseTo(0.95, 6);
    expect(b.dataSync()[0]).toBe(1);
    opt.dispose();
    tf.dispose([w, b]);
  });

  it('skips variables whose gradient is null and does not leak tensors', () => {
    const w = tf.variable(tf.ones([3]));
    const opt = createOptimizer({ kind: 'sgd', lr: 0.1 }, [w]);
    const g = tf.ones([3]);
    opt.apply([g], 0.1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) opt.apply([g], 0.1);
    opt.apply([null], 0.1);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    tf.dispose([w, g]);
  });

  it('rejects bad hyper-parameters with invalid-config', () => {
    const w = tf.variable(tf.ones([1]));
    expect(() => createOptimizer({ kind: 'sgd', lr: -1 }, [w])).toThrowError(SslError);
    expect(() => createOptimizer({ kind: 'adam', lr: 0.1, beta1: 1 }, [w])).toThrowError(/beta1/);
    expect(() => createOptimizer({ kind: 'nope', lr: 0.1 } as unknown as OptimizerSpec, [w])).toThrowError(/optimizer.kind/);
    w.dispose();
  });

  it('clips gradients to a global norm', () => {
    const grads = [tf.tensor1d([3, 0]), tf.tensor1d([0, 4])];
    const { clipped, norm } = clipByGlobalNorm(grads, 1);
    expect(norm).toBeCloseTo(5, 5);
    const total = Math.hypot(...clipped.flatMap((g) => Array.from(g.dataSync())));
    expect(total).toBeCloseTo(1, 4);
    tf.dispose([...grads, ...clipped]);
  });
});
