import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, stopGradient, requireFloat, requirePositive, requireRank, requireSameShape } from '@ssl/core';

export interface DinoLossOptions {
  /** τ_s, student softmax temperature; the paper's 0.1. */
  studentTemperature: number;
  /** τ_t, teacher softmax temperature (sharpening); the paper warms it up from 0.04 to 0.07. */
  teacherTemperature: number;
}

/**
 * DINO loss (Caron et al. 2021, eq. 2–3 and Algorithm 1):
 * for every teacher view t and every student view s ≠ t,
 * H(P_t, P_s) = mean_batch Σ_k −softmax((g_t − c)/τ_t)_k · log_softmax(g_s/τ_s)_k,
 * and the loss is the mean of H over those pairs (the reference code's total_loss / n_loss_terms).
 *
 * The teacher views must be the first `teacherLogits.length` student views, in the same order (the global
 * crops come first in DINO); pairs of the same view are skipped. The teacher distribution is detached:
 * no gradient reaches `teacherLogits` or `center` (the reference's `.detach()`).
 *
 * @param studentLogits V ≥ 2 views, each [B, K] (global crops first, then local crops).
 * @param teacherLogits T ≥ 1 views (T ≤ V), each [B, K].
 * @param center [K] or [1, K], the running mean of teacher outputs (see `updateDinoCenter`).
 */
export function dinoLoss(
  studentLogits: Tensor2D[],
  teacherLogits: Tensor2D[],
  center: Tensor1D | Tensor2D,
  options: DinoLossOptions,
): Scalar {
  validateViews(studentLogits, teacherLogits);
  const classes = studentLogits[0].shape[1];
  const centerIsRow =
    center.rank === 1 ? center.shape[0] === classes : center.rank === 2 && center.shape[0] === 1 && center.shape[1] === classes;
  if (!centerIsRow) {
    throw new SslError(
      'shape-mismatch',
      `center ${formatShape(center.shape)} must be [${classes}] or [1, ${classes}] to match the ${classes} output dimensions of the logits.`,
      { details: { center: center.shape, classes } },
    );
  }
  requireFloat('center', center);
  requirePositive('studentTemperature', options?.studentTemperature);
  requirePositive('teacherTemperature', options?.teacherTemperature);
  const { studentTemperature, teacherTemperature } = options;

  return tf.tidy(() => {
    const centerRow = tf.reshape(center, [1, classes]);
    // Eq. 3 with centering and sharpening; detached as in the reference code.
    const teacherProbabilities = teacherLogits.map((logits) =>
      stopGradient(tf.softmax(tf.div(tf.sub(logits, centerRow), teacherTemperature))),
    );
    const studentLogProbabilities = studentLogits.map((logits) => tf.logSoftmax(tf.div(logits, studentTemperature)));
    const pairLosses: Scalar[] = [];
    teacherProbabilities.forEach((teacher, teacherView) => {
      studentLogProbabilities.forEach((student, studentView) => {
        if (studentView === teacherView) return;
        pairLosses.push(tf.mean(tf.neg(tf.sum(tf.mul(teacher, student), 1))) as Scalar);
      });
    });
    return tf.div(tf.addN(pairLosses), pairLosses.length) as Scalar;
  });
}

export interface DinoCenterOptions {
  /** m, momentum of the center EMA; the paper's 0.9. */
  momentum?: number;
}

/**
 * The next DINO center, eq. 4 and `update_center` in the reference code:
 * c ← m·c + (1 − m)·mean of the teacher outputs over all rows of all teacher views.
 * Returns a new tensor of the same shape as `center`; the caller disposes the old one.
 */
export function updateDinoCenter<C extends Tensor1D | Tensor2D>(center: C, teacherLogits: Tensor2D[], options: DinoCenterOptions = {}): C {
  if (!Array.isArray(teacherLogits) || teacherLogits.length === 0) {
    throw new SslError('shape-mismatch', 'teacherLogits must be a non-empty array of [B, K] tensors, one per teacher view.');
  }
  teacherLogits.forEach((logits, view) => requireRank(`teacherLogits[${view}]`, logits, 2, '[B, K]'));
  teacherLogits.forEach((logits, view) =>
    requireSameShape(
      'teacherLogits[0]',
      teacherLogits[0],
      `teacherLogits[${view}]`,
      logits,
      'every teacher view has the same batch and output size',
    ),
  );
  const classes = teacherLogits[0].shape[1];
  if (center.size !== classes || !(center.rank === 1 || (center.rank === 2 && center.shape[0] === 1))) {
    throw new SslError('shape-mismatch', `center ${formatShape(center.shape)} must be [${classes}] or [1, ${classes}].`, {
      details: { center: center.shape, classes },
    });
  }
  const momentum = options.momentum ?? 0.9;
  if (!Number.isFinite(momentum) || momentum < 0 || momentum > 1) {
    throw new SslError('invalid-config', `Invalid config value momentum = ${momentum}: expected a number in [0, 1].`, {
      details: { field: 'momentum', value: momentum },
    });
  }
  return tf.tidy(() => {
    const batchCenter = tf.mean(tf.concat(teacherLogits, 0), 0);
    const next = tf.add(tf.mul(momentum, tf.reshape(center, [classes])), tf.mul(1 - momentum, batchCenter));
    return tf.reshape(next, center.shape) as C;
  });
}

function validateViews(studentLogits: Tensor2D[], teacherLogits: Tensor2D[]): void {
  if (!Array.isArray(studentLogits) || !Array.isArray(teacherLogits) || teacherLogits.length < 1 || studentLogits.length < 2) {
    throw new SslError(
      'shape-mismatch',
      `DINO needs at least 1 teacher view and 2 student views (so one cross-view pair exists); got ` +
        `${Array.isArray(teacherLogits) ? teacherLogits.length : 'no array of'} teacher and ${Array.isArray(studentLogits) ? studentLogits.length : 'no array of'} student views.`,
    );
  }
  if (teacherLogits.length > studentLogits.length) {
    throw new SslError(
      'shape-mismatch',
      `Got ${teacherLogits.length} teacher views but only ${studentLogits.length} student views; the teacher views must be the first ` +
        'student views (the global crops), so pass every view to the student.',
    );
  }
  const views: Array<[string, Tensor2D]> = [
    ...studentLogits.map((logits, view): [string, Tensor2D] => [`studentLogits[${view}]`, logits]),
    ...teacherLogits.map((logits, view): [string, Tensor2D] => [`teacherLogits[${view}]`, logits]),
  ];
  for (const [name, logits] of views) {
    requireRank(name, logits, 2, '[B, K]');
    requireFloat(name, logits);
    requireSameShape('studentLogits[0]', studentLogits[0], name, logits, 'every view has the same batch size and output dimension');
  }
  if (studentLogits[0].size === 0) {
    throw new SslError('shape-mismatch', `studentLogits[0] is empty (shape ${formatShape(studentLogits[0].shape)}).`);
  }
}
