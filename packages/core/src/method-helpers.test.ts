import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { accuracy, forwardViews, hardLabelCrossEntropy } from './method-helpers';
import './setup';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('method helpers', () => {
  it('hardLabelCrossEntropy equals a plain-loop reference, with and without weights, and its gradient is softmax − onehot', async () => {
    const rows = [
      [2, -1, 0.5],
      [0.1, 0.2, 0.3],
      [-3, 4, 1],
    ];
    const labels = [0, 0, 1];
    const weights = [1, 0.5, 0];
    const reference = (w: number[]) =>
      rows.reduce((sum, z, i) => sum + w[i] * (Math.log(z.reduce((s, v) => s + Math.exp(v), 0)) - z[labels[i]]), 0) / rows.length;
    const logits = tf.tensor2d(rows);
    const labelTensor = tf.tensor1d(labels, 'int32');
    const weightTensor = tf.tensor1d(weights);
    expect((await hardLabelCrossEntropy(logits, labelTensor).data())[0]).toBeCloseTo(reference([1, 1, 1]), 5);
    expect((await hardLabelCrossEntropy(logits, labelTensor, weightTensor).data())[0]).toBeCloseTo(reference(weights), 5);
    const gradient = tf.grad((z: tf.Tensor) => hardLabelCrossEntropy(z as tf.Tensor2D, labelTensor))(logits);
    const expected = tf.div(tf.sub(tf.softmax(logits), tf.oneHot(labelTensor, 3)), 3);
    expect(Math.max(...(await tf.abs(tf.sub(gradient, expected)).data()))).toBeLessThan(1e-6);
    expect((await accuracy(logits, labelTensor).data())[0]).toBeCloseTo(2 / 3, 6);
    tf.dispose([logits, labelTensor, weightTensor, gradient, expected]);
  });

  it("forwardViews: 'concatenated' shares batch statistics across views, 'per-view' does not, and only per-view takes mixed sizes", async () => {
    // A "network" that centers each batch by its own mean, as batch norm does in training mode.
    const centerByBatch = (x: tf.Tensor4D) => tf.sub(tf.reshape(x, [x.shape[0], -1]), tf.mean(x)) as tf.Tensor2D;
    const a = tf.fill([2, 2, 2, 1], 1) as tf.Tensor4D;
    const b = tf.fill([2, 2, 2, 1], 3) as tf.Tensor4D;
    const small = tf.fill([2, 1, 1, 1], 5) as tf.Tensor4D;
    const [ca, cb] = forwardViews(centerByBatch, [a, b], 'concatenated');
    const [pa, pb] = forwardViews(centerByBatch, [a, b], 'per-view');
    expect(Array.from(await ca.data())).toEqual(Array(8).fill(-1));
    expect(Array.from(await cb.data())).toEqual(Array(8).fill(1));
    expect(Array.from(await pa.data())).toEqual(Array(8).fill(0));
    expect(Array.from(await pb.data())).toEqual(Array(8).fill(0));
    const mixed = forwardViews((x) => tf.reshape(tf.mean(x, [1, 2, 3]), [-1, 1]) as tf.Tensor2D, [a, small], 'per-view');
    expect(mixed.map((m) => m.shape)).toEqual([
      [2, 1],
      [2, 1],
    ]);
    expect(() => forwardViews(centerByBatch, [a, small], 'concatenated')).toThrow(/one size.*'per-view'/);
    tf.dispose([a, b, small, ca, cb, pa, pb, ...mixed]);
  });
});
