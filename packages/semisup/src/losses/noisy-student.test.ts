import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { noisyStudentLoss } from './noisy-student';
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

/** 1/N Σ_i 1[max t_i ≥ τ] · (−Σ_k y_ik log softmax(z_i)_k), y = t (soft) or onehot(argmax t) (hard), with loops. */
function reference(logits: ArrayLike<number>, teacher: ArrayLike<number>, n: number, k: number, hard: boolean, threshold: number): number {
  let total = 0;
  for (let b = 0; b < n; b++) {
    const row = Array.from({ length: k }, (_, c) => logits[b * k + c]);
    const t = Array.from({ length: k }, (_, c) => teacher[b * k + c]);
    if (Math.max(...t) < threshold) continue;
    const max = Math.max(...row);
    const logSumExp = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
    const best = t.indexOf(Math.max(...t));
    for (let c = 0; c < k; c++) total -= (hard ? (c === best ? 1 : 0) : t[c]) * (row[c] - logSumExp);
  }
  return total / n;
}

describe('noisyStudentLoss', () => {
  beforeAll(useCpuBackend);
  const [n, k] = [5, 4];
  const rng = new Random(61);
  const logitValues = randomValues(rng, n * k, 2);
  const teacherValues = new Float32Array(n * k);
  for (let b = 0; b < n; b++) {
    const row = Array.from({ length: k }, () => rng.uniform(0, 1) ** 3);
    const sum = row.reduce((a, v) => a + v, 0);
    row.forEach((v, c) => (teacherValues[b * k + c] = v / sum));
  }
  const run = (logits: Float32Array, pseudoLabels: 'soft' | 'hard', threshold: number) =>
    tf.tidy(() => {
      const result = noisyStudentLoss({
        studentLogits: tf.tensor2d(logits, [n, k]),
        teacherProbabilities: tf.tensor2d(teacherValues, [n, k]),
        pseudoLabels,
        threshold,
      });
      return { loss: result.loss.dataSync()[0], mask: Array.from(result.mask.dataSync()) };
    });

  it('equals the plain-loop reference, soft and hard, with and without the confidence filter', () => {
    const maxima = Array.from({ length: n }, (_, b) => Math.max(...teacherValues.slice(b * k, (b + 1) * k)));
    const threshold = [...maxima].sort((a, b) => a - b)[2]; // filters out the two least confident rows
    for (const pseudoLabels of ['soft', 'hard'] as const)
      for (const tau of [0, threshold]) {
        const { loss, mask } = run(logitValues, pseudoLabels, tau);
        expectClose(loss, reference(logitValues, teacherValues, n, k, pseudoLabels === 'hard', tau), { relative: 1e-5 });
        expect(mask).toEqual(maxima.map((m) => (Math.fround(m) >= Math.fround(tau) ? 1 : 0)));
      }
    expect(run(logitValues, 'soft', threshold).mask.filter((m) => m === 1)).toHaveLength(3);
  });

  it('has the reference gradient for the student logits and none for the teacher', () => {
    for (const pseudoLabels of ['soft', 'hard'] as const) {
      const [gradLogits, gradTeacher] = tf.tidy(() =>
        tf
          .grads(
            (z: tf.Tensor, t: tf.Tensor) =>
              noisyStudentLoss({ studentLogits: z as tf.Tensor2D, teacherProbabilities: t as tf.Tensor2D, pseudoLabels, threshold: 0.3 })
                .loss,
          )([tf.tensor2d(logitValues, [n, k]), tf.tensor2d(teacherValues, [n, k])])
          .map((g) => g.dataSync()),
      );
      const expected = numericGradient(([z]) => reference(z, teacherValues, n, k, pseudoLabels === 'hard', 0.3), [logitValues]);
      expectClose(gradLogits, expected[0], { absolute: 1e-5, relative: 1e-3 });
      expect(Array.from(gradTeacher).every((g) => g === 0)).toBe(true);
    }
  });

  it('is lowered by a few SGD steps on the student logits', () => {
    const logits = tf.variable(tf.tensor2d(logitValues, [n, k]));
    const teacher = tf.tensor2d(teacherValues, [n, k]);
    const { before, after } = lossBeforeAndAfter(
      () => noisyStudentLoss({ studentLogits: logits, teacherProbabilities: teacher, pseudoLabels: 'soft', threshold: 0 }).loss,
      [logits],
      tf.train.sgd(1),
      5,
    );
    expect(after).toBeLessThan(before - 0.1);
    tf.dispose([logits, teacher]);
  });

  it('leaves no tensors behind and rejects mismatched shapes', () => {
    const logits = tf.tensor2d(logitValues, [n, k]);
    const teacher = tf.tensor2d(teacherValues, [n, k]);
    expectNoLeak(() => {
      const { loss, mask } = noisyStudentLoss({ studentLogits: logits, teacherProbabilities: teacher, pseudoLabels: 'hard', threshold: 0 });
      tf.dispose([loss, mask]);
    });
    const wrong = tf.zeros([n, k + 1]) as tf.Tensor2D;
    expect(
      expectSslError(
        () => noisyStudentLoss({ studentLogits: logits, teacherProbabilities: wrong, pseudoLabels: 'soft', threshold: 0 }),
        'shape-mismatch',
      ),
    ).toContain(`[${n}, ${k + 1}]`);
    tf.dispose([logits, teacher, wrong]);
  });
});
