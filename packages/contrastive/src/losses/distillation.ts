import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { requireFloat, requireNonEmpty, requirePositive, requireRank, requireSameShape, stopGradient } from '@ssl/core';

export interface DistillationOptions {
  /** Temperature τ > 0 of both softmaxes (SimCLRv2 eq. 2; the paper uses τ = 1). */
  temperature: number;
}

/**
 * The distillation loss of SimCLRv2 (Chen et al. 2020b, eq. 2), averaged over the N images:
 *
 *   L = −1/N Σ_i Σ_y P_T(y | x_i; τ) log P_S(y | x_i; τ),   P(y | x; τ) = softmax(logits / τ)_y,
 *
 * the cross-entropy of the student's temperature-scaled softmax against the teacher's. The teacher's
 * probabilities are targets: no gradient flows into `teacherLogits`. Unlike Hinton et al. (2015) the paper
 * does not multiply by τ², so neither does this. It is the teacher's entropy plus KL(P_T ‖ P_S), so it is
 * smallest when the student's logits equal the teacher's up to a per-row constant.
 *
 * @param studentLogits [N, K] logits of the student.
 * @param teacherLogits [N, K] logits of the teacher on the same images, row-aligned.
 */
export function distillationLoss(studentLogits: Tensor2D, teacherLogits: Tensor2D, options: DistillationOptions): Scalar {
  requireRank('studentLogits', studentLogits, 2, '[N, K]');
  requireRank('teacherLogits', teacherLogits, 2, '[N, K]');
  requireSameShape('studentLogits', studentLogits, 'teacherLogits', teacherLogits, 'row i of both is image i, column k class k');
  requireNonEmpty('studentLogits', studentLogits);
  requireFloat('studentLogits', studentLogits);
  requireFloat('teacherLogits', teacherLogits);
  requirePositive('temperature', options?.temperature);
  const { temperature } = options;
  return tf.tidy(() => {
    const teacherProbabilities = tf.softmax(tf.div(stopGradient(teacherLogits), temperature));
    const studentLogProbabilities = tf.logSoftmax(tf.div(studentLogits, temperature));
    return tf.neg(tf.mean(tf.sum(tf.mul(teacherProbabilities, studentLogProbabilities), 1))) as Scalar;
  });
}
