import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { dinoLoss, updateDinoCenter } from './dino';
import {
  Random,
  expectClose,
  expectNoLeak,
  expectSslError,
  lossBeforeAndAfter,
  numericGradient,
  randomValues,
  useCpuBackend,
} from '@ssl/test-utils';

const batch = 2;
const classes = 4;

/** DINO's loss loop (teacher view iq vs student view v ≠ iq), float64. */
function referenceDino(
  student: ArrayLike<number>[],
  teacher: ArrayLike<number>[],
  center: ArrayLike<number>,
  studentTemperature: number,
  teacherTemperature: number,
): number {
  const softmaxRow = (values: number[]) => {
    const max = Math.max(...values);
    const exps = values.map((v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    return exps.map((e) => e / sum);
  };
  let total = 0;
  let terms = 0;
  teacher.forEach((teacherView, teacherIndex) => {
    student.forEach((studentView, studentIndex) => {
      if (teacherIndex === studentIndex) return;
      let pairLoss = 0;
      for (let b = 0; b < batch; b++) {
        const t = softmaxRow(Array.from({ length: classes }, (_, k) => (teacherView[b * classes + k] - center[k]) / teacherTemperature));
        const s = softmaxRow(Array.from({ length: classes }, (_, k) => studentView[b * classes + k] / studentTemperature));
        for (let k = 0; k < classes; k++) pairLoss -= (t[k] * Math.log(s[k])) / batch;
      }
      total += pairLoss;
      terms++;
    });
  });
  return total / terms;
}

describe('dinoLoss', () => {
  beforeAll(useCpuBackend);
  const rng = new Random(19);
  const studentValues = [0, 1, 2].map(() => randomValues(rng, batch * classes));
  const teacherValues = [0, 1].map(() => randomValues(rng, batch * classes));
  const centerValues = randomValues(rng, classes, 0.3);
  const temperatures = { studentTemperature: 0.1, teacherTemperature: 0.04 };
  const toTensors = (values: Float32Array[]) => values.map((v) => tf.tensor2d(v, [batch, classes]));

  it('equals the plain-loop reference over all cross-view pairs', () => {
    for (const options of [temperatures, { studentTemperature: 1, teacherTemperature: 0.5 }]) {
      const value = tf.tidy(
        () => dinoLoss(toTensors(studentValues), toTensors(teacherValues), tf.tensor1d(centerValues), options).dataSync()[0],
      );
      expectClose(
        value,
        referenceDino(studentValues, teacherValues, centerValues, options.studentTemperature, options.teacherTemperature),
        {
          relative: 1e-5,
        },
      );
    }
  });

  it('accepts the center as [K] or [1, K], and centering changes the targets', () => {
    const [asVector, asRow, uncentered] = tf.tidy(() => [
      dinoLoss(toTensors(studentValues), toTensors(teacherValues), tf.tensor1d(centerValues), temperatures).dataSync()[0],
      dinoLoss(toTensors(studentValues), toTensors(teacherValues), tf.tensor2d(centerValues, [1, classes]), temperatures).dataSync()[0],
      dinoLoss(toTensors(studentValues), toTensors(teacherValues), tf.zeros([classes]) as tf.Tensor1D, temperatures).dataSync()[0],
    ]);
    expect(asRow).toBe(asVector);
    expect(Math.abs(uncentered - asVector)).toBeGreaterThan(1e-3);
  });

  it('has the reference gradient for the student and none for the teacher or the center', () => {
    const gradients = tf.tidy(() =>
      tf
        .grads((s0: tf.Tensor, s1: tf.Tensor, s2: tf.Tensor, t0: tf.Tensor, t1: tf.Tensor, c: tf.Tensor) =>
          dinoLoss([s0, s1, s2] as tf.Tensor2D[], [t0, t1] as tf.Tensor2D[], c as tf.Tensor1D, temperatures),
        )([...toTensors(studentValues), ...toTensors(teacherValues), tf.tensor1d(centerValues)])
        .map((g) => g.dataSync()),
    );
    const expected = numericGradient(
      (student) => referenceDino(student, teacherValues, centerValues, temperatures.studentTemperature, temperatures.teacherTemperature),
      studentValues,
    );
    for (let view = 0; view < 3; view++) expectClose(gradients[view], expected[view], { absolute: 1e-4, relative: 1e-3 });
    for (let other = 3; other < 6; other++) expect(Array.from(gradients[other]).every((g) => g === 0)).toBe(true);
  });

  it('is lowered by a few SGD steps on the student logits', () => {
    const student = toTensors(studentValues).map((t) => tf.variable(t));
    const teacher = toTensors(teacherValues);
    const center = tf.tensor1d(centerValues);
    const { before, after } = lossBeforeAndAfter(() => dinoLoss(student, teacher, center, temperatures), student, tf.train.sgd(0.05), 10);
    expect(after).toBeLessThan(before - 0.1);
    tf.dispose([...student, ...teacher, center]);
  });

  it('leaves no tensors behind', () => {
    const student = toTensors(studentValues);
    const teacher = toTensors(teacherValues);
    const center = tf.tensor1d(centerValues);
    expectNoLeak(() => dinoLoss(student, teacher, center, temperatures));
    expectNoLeak(() => tf.grads((s0: tf.Tensor) => dinoLoss([s0 as tf.Tensor2D, student[1]], teacher, center, temperatures))([student[0]]));
    expectNoLeak(() => updateDinoCenter(center, teacher));
    tf.dispose([...student, ...teacher, center]);
  });

  it('rejects bad views, centers and temperatures with SslError', () => {
    const student = toTensors(studentValues);
    const teacher = toTensors(teacherValues);
    const center = tf.tensor1d(centerValues);
    const wrongCenter = tf.zeros([classes + 1]) as tf.Tensor1D;
    const wrongView = tf.zeros([batch, classes + 1]) as tf.Tensor2D;
    expectSslError(() => dinoLoss([student[0]], [teacher[0]], center, temperatures), 'shape-mismatch');
    expectSslError(() => dinoLoss(student.slice(0, 2), [...teacher, teacher[0]], center, temperatures), 'shape-mismatch');
    expect(expectSslError(() => dinoLoss(student, teacher, wrongCenter, temperatures), 'shape-mismatch')).toContain(`[${classes + 1}]`);
    expect(expectSslError(() => dinoLoss([...student, wrongView], teacher, center, temperatures), 'shape-mismatch')).toContain(
      'studentLogits[3]',
    );
    expectSslError(() => dinoLoss(student, teacher, center, { studentTemperature: 0, teacherTemperature: 0.04 }), 'invalid-config');
    expectSslError(() => dinoLoss(student, teacher, center, { studentTemperature: 0.1, teacherTemperature: -1 }), 'invalid-config');
    tf.dispose([...student, ...teacher, center, wrongCenter, wrongView]);
  });
});

describe('updateDinoCenter', () => {
  beforeAll(useCpuBackend);

  it('is the EMA of the mean teacher output over all rows of all views, keeping the center shape', () => {
    const rng = new Random(23);
    const views = [0, 1].map(() => randomValues(rng, batch * classes));
    const center = randomValues(rng, classes);
    const momentum = 0.8;
    const expected = Array.from({ length: classes }, (_, k) => {
      let mean = 0;
      for (const view of views) for (let b = 0; b < batch; b++) mean += view[b * classes + k] / (2 * batch);
      return momentum * center[k] + (1 - momentum) * mean;
    });
    const [vector, row, rowShape] = tf.tidy(() => {
      const teacher = views.map((v) => tf.tensor2d(v, [batch, classes]));
      const nextRow = updateDinoCenter(tf.tensor2d(center, [1, classes]), teacher, { momentum });
      return [updateDinoCenter(tf.tensor1d(center), teacher, { momentum }).dataSync(), nextRow.dataSync(), nextRow.shape];
    });
    expectClose(vector, expected, { relative: 1e-5 });
    expectClose(row, expected, { relative: 1e-5 });
    expect(rowShape).toEqual([1, classes]);
  });

  it('rejects a momentum outside [0, 1] and a center of the wrong size', () => {
    const teacher = [tf.zeros([batch, classes]) as tf.Tensor2D];
    const center = tf.zeros([classes]) as tf.Tensor1D;
    const wrongCenter = tf.zeros([classes - 1]) as tf.Tensor1D;
    expectSslError(() => updateDinoCenter(center, teacher, { momentum: 1.5 }), 'invalid-config');
    expectSslError(() => updateDinoCenter(wrongCenter, teacher), 'shape-mismatch');
    expectSslError(() => updateDinoCenter(center, []), 'shape-mismatch');
    tf.dispose([...teacher, center, wrongCenter]);
  });
});
