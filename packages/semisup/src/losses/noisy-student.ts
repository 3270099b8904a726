import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { requireFloat, requireNonEmpty, requireRank, requireSameShape, stopGradient } from '@ssl/core';

export interface NoisyStudentLossInput {
  /** [N, K] logits of the noised student on the augmented unlabeled images. */
  studentLogits: Tensor2D;
  /** [N, K] softmax of the unnoised teacher on the clean images (constants: no gradient reaches them). */
  teacherProbabilities: Tensor2D;
  /** 'soft': the teacher's distribution is the target; 'hard': its argmax as a one-hot target. */
  pseudoLabels: 'soft' | 'hard';
  /** Minimum max-probability of the teacher for a row to count (Noisy Student's confidence filter); 0 keeps all. */
  threshold: number;
}

export interface NoisyStudentLossResult {
  loss: Scalar;
  /** [N] float32, 1 where the teacher's max probability ≥ threshold. */
  mask: Tensor1D;
}

/**
 * Noisy Student's unlabeled term (Xie et al. 2020, Algorithm 1 step 3): the student's cross-entropy against
 * the teacher's pseudo-labels ỹ_i = f(x̃_i, θ*) (soft, or hard as one-hot argmax), averaged over all N rows:
 * ℓ_u = 1/N Σ_i 1[max ỹ_i ≥ τ] · (−Σ_k ỹ_ik log softmax(f^noised(x̃_i, θ'))_k).
 * The mean runs over every row, as FixMatch's masked mean, so filtered rows weigh 0 rather than lifting the others.
 */
export function noisyStudentLoss({
  studentLogits,
  teacherProbabilities,
  pseudoLabels,
  threshold,
}: NoisyStudentLossInput): NoisyStudentLossResult {
  requireRank('studentLogits', studentLogits, 2, '[N, K]');
  requireRank('teacherProbabilities', teacherProbabilities, 2, '[N, K]');
  requireSameShape('studentLogits', studentLogits, 'teacherProbabilities', teacherProbabilities, 'row i of both comes from the same image');
  requireNonEmpty('studentLogits', studentLogits);
  requireFloat('studentLogits', studentLogits);
  requireFloat('teacherProbabilities', teacherProbabilities);
  return tf.tidy(() => {
    const teacher = stopGradient(teacherProbabilities);
    const targets =
      pseudoLabels === 'soft' ? teacher : (tf.cast(tf.oneHot(tf.argMax(teacher, 1) as Tensor1D, teacher.shape[1]), 'float32') as Tensor2D);
    const mask = tf.cast(tf.greaterEqual(tf.max(teacher, 1), threshold), 'float32') as Tensor1D;
    const perRow = tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(studentLogits)), 1));
    return { loss: tf.mean(tf.mul(perRow, mask)) as Scalar, mask };
  });
}
