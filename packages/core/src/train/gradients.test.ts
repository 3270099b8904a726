import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's ESM entry (what vitest loads) registers no gradients; the union package '@tensorflow/tfjs' normally does.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';

import { batchNormTraining } from '../nn/batch-norm';
import { SslError } from '../errors';
import { stopGradient } from '../ops';
import { noGradient, variableGrads } from './gradients';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A small network touching the cases the tape walk must get right. */
function network() {
  const filter = tf.variable(tf.randomNormal([3, 3, 2, 4], 0, 0.3, 'float32', 1), true, 'g-filter');
  const gamma = tf.variable(tf.ones([4]), true, 'g-gamma');
  const beta = tf.variable(tf.zeros([4]), true, 'g-beta');
  const table = tf.variable(tf.randomNormal([6, 4], 0, 1, 'float32', 2), true, 'g-table');
  const dense = tf.variable(tf.randomNormal([4, 3], 0, 0.5, 'float32', 3), true, 'g-dense');
  const unused = tf.variable(tf.ones([2]), true, 'g-unused');
  const frozen = tf.variable(tf.ones([3]), false, 'g-frozen');
  const images = tf.randomNormal([5, 6, 6, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
  const ids = tf.tensor1d([0, 3, 3, 5, 1], 'int32');
  const loss = (): tf.Scalar => {
    const conv = tf.conv2d(images, filter as unknown as tf.Tensor4D, 1, 'same');
    // custom gradient, shared input (conv feeds two branches), integer indices, a frozen variable
    const { y, mean, variance } = batchNormTraining(conv, gamma as unknown as tf.Tensor1D, beta as unknown as tf.Tensor1D, 1e-5);
    tf.dispose([mean, variance]);
    const pooled = tf.add(tf.mean(tf.relu(y), [1, 2]), tf.mul(tf.mean(conv, [1, 2]), 0.5)) as tf.Tensor2D;
    const embedded = tf.gather(table, ids);
    const logits = tf.mul(tf.matMul(tf.add(pooled, embedded), dense), frozen);
    return tf.mean(tf.square(logits));
  };
  const variables = [filter, gamma, beta, table, dense, unused, frozen];
  return { loss, variables, dispose: () => tf.dispose([...variables, images, ids]) };
}

describe('variableGrads (frees the backward pass as it goes)', () => {
  it('returns the same loss and gradients as tf.variableGrads, none for unused or frozen variables', () => {
    const { loss, variables, dispose } = network();
    const ours = variableGrads(loss, variables);
    const stock = tf.variableGrads(
      loss,
      variables.filter((v) => v.trainable),
    );
    expect(ours.value.dataSync()[0]).toBe(stock.value.dataSync()[0]);
    expect(Object.keys(ours.grads).sort()).toEqual(['g-beta', 'g-dense', 'g-filter', 'g-gamma', 'g-table']);
    for (const name of Object.keys(ours.grads)) {
      expect(Array.from(ours.grads[name].dataSync())).toEqual(Array.from(stock.grads[name].dataSync()));
    }
    tf.dispose([ours.value, stock.value, ...Object.values(ours.grads), ...Object.values(stock.grads)]);
    dispose();
  });

  it('leaks nothing across steps and holds fewer buffers mid-backward than the stock pass', () => {
    const layers = 12;
    const weights = Array.from({ length: layers }, (_, i) =>
      tf.variable(tf.randomNormal([32, 32], 0, 0.1, 'float32', 10 + i), true, `g-deep-${i}`),
    );
    const input = tf.randomNormal([64, 32], 0, 1, 'float32', 9);
    // The probe sits right after the first layer, so the backward pass reaches it last but one: count the
    // live buffers there.
    let buffersAtFirstLayer = 0;
    const probe = tf.customGrad(((x: tf.Tensor) => ({
      value: tf.clone(x),
      gradFunc: (dy: tf.Tensor) => {
        buffersAtFirstLayer = tf.engine().backend.numDataIds();
        return dy;
      },
    })) as unknown as Parameters<typeof tf.customGrad>[0]);
    const loss = (): tf.Scalar =>
      tf.mean(weights.slice(1).reduce((h, w) => tf.tanh(tf.matMul(h, w)), probe(tf.matMul(input, weights[0])) as tf.Tensor)) as tf.Scalar;
    const step = (compute: typeof variableGrads): number => {
      const { value, grads } = compute(loss, weights);
      tf.dispose([value, ...Object.values(grads)]);
      return buffersAtFirstLayer;
    };
    step(variableGrads);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step(variableGrads);
    expect(tf.memory().numTensors).toBe(before);
    const ours = step(variableGrads);
    const stock = step((f, v) => tf.variableGrads(f, v));
    // The stock pass still holds the gradients of all 2·12 intermediate activations there.
    expect(stock - ours).toBeGreaterThanOrEqual(2 * (layers - 1));
    tf.dispose([...weights, input]);
  });

  it('names a non-scalar loss and an all-frozen variable list', () => {
    const w = tf.variable(tf.ones([3]), true, 'g-vector');
    const frozen = tf.variable(tf.ones([3]), false, 'g-frozen-only');
    const before = tf.memory().numTensors;
    expect(() => variableGrads(() => tf.mul(w, 2) as unknown as tf.Scalar, [w])).toThrow(/must be a scalar, got shape \[3\]/);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => variableGrads(() => tf.sum(frozen), [frozen])).toThrow(SslError);
    tf.dispose([w, frozen]);
  });
});

/** tfjs-core's tape, which its public typings do not show. */
function activeTape(): Array<{ outputs: tf.Tensor[] }> | null {
  return (tf.engine() as unknown as { state: { activeTape: Array<{ outputs: tf.Tensor[] }> | null } }).state.activeTape;
}

describe('noGradient (a forward off the tape, as torch.no_grad)', () => {
  /** A student and an EMA-style teacher of the same shape; the loss pulls the student towards the teacher. */
  function studentAndTeacher() {
    const student = tf.variable(tf.randomNormal([4, 3], 0, 0.5, 'float32', 21), true, 'ng-student');
    const teacher = tf.variable(tf.randomNormal([4, 3], 0, 0.5, 'float32', 22), true, 'ng-teacher');
    const input = tf.randomNormal([6, 4], 0, 1, 'float32', 23);
    const forward = (w: tf.Tensor) => tf.softmax(tf.tanh(tf.matMul(input, w)));
    const loss = (target: () => tf.Tensor) => (): tf.Scalar => tf.mean(tf.square(tf.sub(forward(student), target())));
    return { student, teacher, forward, loss, dispose: () => tf.dispose([student, teacher, input]) };
  }

  it('records no tape entry for what is computed inside, and the outer tape goes on after it', () => {
    const { student, teacher, forward, dispose } = studentAndTeacher();
    let tapeBefore = -1;
    let tapeAfterTeacher = -1;
    let teacherId = -1;
    let nodesMakingTeacher = -1;
    const { value, grads } = variableGrads(() => {
      const studentOutput = forward(student);
      tapeBefore = activeTape()?.length ?? -1;
      const teacherOutput = noGradient(() => forward(teacher));
      tapeAfterTeacher = activeTape()?.length ?? -1;
      teacherId = teacherOutput.id;
      const loss = tf.mean(tf.square(tf.sub(studentOutput, teacherOutput))) as tf.Scalar;
      nodesMakingTeacher = (activeTape() ?? []).filter((node) => node.outputs.some((output) => output.id === teacherId)).length;
      return loss;
    }, [student, teacher]);
    expect(tapeBefore).toBeGreaterThan(0);
    expect(tapeAfterTeacher).toBe(tapeBefore);
    expect(nodesMakingTeacher).toBe(0);
    // The teacher's weights get no gradient: nothing on the tape leads from them to the loss.
    expect(Object.keys(grads)).toEqual(['ng-student']);
    tf.dispose([value, ...Object.values(grads)]);
    dispose();
  });

  it('leaves the gradients outside it as stopGradient gives them, and holds fewer tensors for the backward', () => {
    const { student, teacher, forward, loss, dispose } = studentAndTeacher();
    let savedWithStopGradient = 0;
    let savedWithNoGradient = 0;
    const countSaved = () => (activeTape() ?? []).reduce((n, node) => n + ((node as { saved?: tf.Tensor[] }).saved?.length ?? 0), 0);
    const stopped = variableGrads(() => {
      const value = loss(() => stopGradient(forward(teacher)))();
      savedWithStopGradient = countSaved();
      return value;
    }, [student, teacher]);
    const off = variableGrads(() => {
      const value = loss(() => noGradient(() => forward(teacher)))();
      savedWithNoGradient = countSaved();
      return value;
    }, [student, teacher]);
    expect(off.value.dataSync()[0]).toBe(stopped.value.dataSync()[0]);
    expect(Array.from(off.grads['ng-student'].dataSync())).toEqual(Array.from(stopped.grads['ng-student'].dataSync()));
    // stopGradient's teacher gradient is zeros (a path through a zero gradient); noGradient's is no path at all.
    expect(Array.from(stopped.grads['ng-teacher'].dataSync()).every((g) => g === 0)).toBe(true);
    expect(off.grads['ng-teacher']).toBeUndefined();
    // The teacher's matMul, tanh and softmax saved their inputs or outputs on the tape; off the tape they do not.
    expect(savedWithNoGradient).toBeLessThan(savedWithStopGradient);
    tf.dispose([stopped.value, off.value, ...Object.values(stopped.grads), ...Object.values(off.grads)]);
    dispose();
  });

  it("returns f's result, restores the tape when f throws, and lets a gradient be taken inside", () => {
    const x = tf.scalar(3);
    const outer = tf.variable(tf.scalar(2), true, 'ng-outer');
    const before = tf.memory().numTensors;
    const { value, grads } = variableGrads(() => {
      // A gradient inside the scope starts and ends its own tape (tf.grad in VAT-style perturbations).
      const inner = noGradient(() => tf.grad((v: tf.Tensor) => tf.square(v))(x));
      expect(inner.dataSync()[0]).toBe(6);
      expect(() =>
        noGradient(() => {
          throw new SslError('invalid-config', 'inside');
        }),
      ).toThrow('inside');
      // The outer tape is still recording: the product below has a gradient with respect to `outer`.
      return tf.mul(tf.square(outer), inner) as tf.Scalar;
    }, [outer]);
    expect(value.dataSync()[0]).toBe(4 * 6);
    expect(grads['ng-outer'].dataSync()[0]).toBe(2 * 2 * 6);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, outer]);
  });
});
