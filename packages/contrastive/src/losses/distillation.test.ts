import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { distillationLoss } from './distillation';
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

/** SimCLRv2 eq. 2 with loops over images and classes, in float64. */
function referenceDistillation(student: ArrayLike<number>, teacher: ArrayLike<number>, n: number, k: number, temperature: number): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    let teacherSum = 0;
    let studentSum = 0;
    for (let c = 0; c < k; c++) {
      teacherSum += Math.exp(teacher[i * k + c] / temperature);
      studentSum += Math.exp(student[i * k + c] / temperature);
    }
    for (let c = 0; c < k; c++) {
      const teacherProbability = Math.exp(teacher[i * k + c] / temperature) / teacherSum;
      const studentLogProbability = student[i * k + c] / temperature - Math.log(studentSum);
      total -= teacherProbability * studentLogProbability;
    }
  }
  return total / n;
}

describe('distillationLoss', () => {
  beforeAll(useCpuBackend);
  const n = 5;
  const k = 4;
  const rng = new Random(3);
  const studentValues = randomValues(rng, n * k, 2);
  const teacherValues = randomValues(rng, n * k, 2);
  const loss = (student: ArrayLike<number>, teacher: ArrayLike<number>, temperature: number) =>
    tf.tidy(
      () =>
        distillationLoss(tf.tensor2d(Float32Array.from(student), [n, k]), tf.tensor2d(Float32Array.from(teacher), [n, k]), {
          temperature,
        }).dataSync()[0],
    );

  it('equals the plain-loop SimCLRv2 eq. 2 for several temperatures', () => {
    for (const temperature of [0.5, 1, 4]) {
      expectClose(loss(studentValues, teacherValues, temperature), referenceDistillation(studentValues, teacherValues, n, k, temperature), {
        relative: 1e-5,
      });
    }
  });

  it("is the teacher's entropy when the student copies the teacher, and more otherwise (Gibbs)", () => {
    const temperature = 2;
    const entropy = referenceDistillation(teacherValues, teacherValues, n, k, temperature);
    expectClose(loss(teacherValues, teacherValues, temperature), entropy, { relative: 1e-5 });
    // Adding a per-row constant to the student's logits leaves its softmax unchanged.
    const shifted = Array.from(teacherValues, (v, i) => v + Math.floor(i / k) * 3);
    expectClose(loss(shifted, teacherValues, temperature), entropy, { relative: 1e-5 });
    expect(loss(studentValues, teacherValues, temperature)).toBeGreaterThan(entropy + 1e-3);
  });

  it('has the gradient of the reference for the student and none for the teacher', () => {
    const temperature = 1.5;
    const [gradStudent, gradTeacher] = tf.tidy(() =>
      tf
        .grads((s: tf.Tensor, t: tf.Tensor) => distillationLoss(s as tf.Tensor2D, t as tf.Tensor2D, { temperature }))([
          tf.tensor2d(studentValues, [n, k]),
          tf.tensor2d(teacherValues, [n, k]),
        ])
        .map((g) => g.dataSync()),
    );
    const [expected] = numericGradient(([s]) => referenceDistillation(s, teacherValues, n, k, temperature), [studentValues]);
    expectClose(gradStudent, expected, { absolute: 2e-5, relative: 1e-3 });
    expect(Array.from(gradTeacher).every((g) => g === 0)).toBe(true);
  });

  it('is lowered by a few SGD steps on the student logits', () => {
    const student = tf.variable(tf.tensor2d(studentValues, [n, k]));
    const teacher = tf.tensor2d(teacherValues, [n, k]);
    const { before, after } = lossBeforeAndAfter(
      () => distillationLoss(student, teacher, { temperature: 1 }),
      [student],
      tf.train.sgd(1),
      10,
    );
    expect(after).toBeLessThan(before - 0.05);
    tf.dispose([student, teacher]);
  });

  it('leaves no tensors behind (value and gradient)', () => {
    const student = tf.tensor2d(studentValues, [n, k]);
    const teacher = tf.tensor2d(teacherValues, [n, k]);
    expectNoLeak(() => distillationLoss(student, teacher, { temperature: 1 }));
    expectNoLeak(() => tf.grads((s: tf.Tensor) => distillationLoss(s as tf.Tensor2D, teacher, { temperature: 1 }))([student]));
    tf.dispose([student, teacher]);
  });

  it('rejects bad shapes, dtypes and temperatures with SslError', () => {
    const a = tf.zeros([4, 3]) as tf.Tensor2D;
    const b = tf.zeros([4, 5]) as tf.Tensor2D;
    const ints = tf.zeros([4, 3], 'int32') as tf.Tensor2D;
    expect(expectSslError(() => distillationLoss(a, b, { temperature: 1 }), 'shape-mismatch')).toContain('[4, 5]');
    expectSslError(() => distillationLoss(ints, a, { temperature: 1 }), 'dtype-mismatch');
    for (const temperature of [0, -1, Number.NaN]) {
      expect(expectSslError(() => distillationLoss(a, a, { temperature }), 'invalid-config')).toContain('temperature');
    }
    tf.dispose([a, b, ints]);
  });
});
