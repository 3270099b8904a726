import * as tf from '@tensorflow/tfjs-core';
import type { Scalar } from '@tensorflow/tfjs-core';
import { SslError, accuracy, defineMethod, hardLabelCrossEntropy, noGradient } from '@ssl/core';
import { consistencyMse } from '../losses/consistency-mse';
import { sigmoidRampUp } from '../schedules/ramps';
import {
  NO_UNLABELED_VIEWS,
  classifierLogits,
  copyOfNetwork,
  createClassifierNetwork,
  forwardTogether,
  requireClasses,
  supervisedStep,
  reportedClassifier,
} from '../shared/classifier-network';
import type { SemisupRuntime } from '../shared/classifier-network';
import { SEMISUP_TRAINING } from '../shared/training';
import { requireDropout, requireEmaDecay, requireFraction, requireNonNegativeNumber, requirePositiveInteger } from '../shared/validate';

/**
 * Mean Teacher (Tarvainen & Valpola 2017): the teacher is an exponential moving average of the student's
 * weights; the student is trained to agree with the teacher's softmax on the same unlabeled image under
 * other noise (another augmentation, other dropout masks).
 */
export interface MeanTeacherConfig {
  /** Unlabeled images per labeled image in a batch. */
  unlabeledRatio: number;
  /** Maximum weight of the consistency cost (reached after the ramp-up); 0 is the supervised-only ablation. */
  consistencyWeight: number;
  /** Length of the sigmoid ramp-up exp(−5(1 − T)²) as a fraction of the run; 0 for none. */
  rampUp: number;
  /** EMA decay α of the teacher (the paper's CIFAR-10 code: 0.99 during ramp-up, 0.999 after). */
  emaDecay: number;
  /** Dropout on the classifier's input features, in both student and teacher: the model noise. */
  dropout: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:mean-teacher': MeanTeacherConfig;
  }
}

/**
 * The teacher's decay at 0-based step t: min(α, 1 − 1/(t + 1)), the Mean Teacher code's
 * `update_ema_variables`, so the teacher starts as the student and is not held to the initial weights.
 */
export function meanTeacherDecay(decay: number, step: number): number {
  return Math.min(decay, 1 - 1 / (step + 1));
}

export const meanTeacher = defineMethod<MeanTeacherConfig, 'semi-supervised'>({
  name: 'mean-teacher',
  description: 'The student matches an EMA teacher on other noise (Mean Teacher, Tarvainen & Valpola 2017).',
  paper: {
    title: 'Mean teachers are better role models: Weight-averaged consistency targets improve semi-supervised deep learning results',
    authors: 'Tarvainen, Valpola',
    year: 2017,
    url: 'https://arxiv.org/abs/1703.01780',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  defaults: { unlabeledRatio: 3, consistencyWeight: 10, rampUp: 0.3, emaDecay: 0.99, dropout: 0.2 },
  validate(config) {
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio);
    requireNonNegativeNumber('consistencyWeight', config.consistencyWeight, 'a finite number ≥ 0 (0 = supervised only)');
    requireFraction('rampUp', config.rampUp);
    requireEmaDecay('emaDecay', config.emaDecay);
    requireDropout('dropout', config.dropout);
  },
  // The supervised-only ablation: same networks, labels and steps, the unlabeled term off.
  supervisedControl: (config) => ({ ...config, consistencyWeight: 0 }),
  views: (config) => ({
    labeled: 'weak',
    // Two weak views: the student's and the teacher's. Supervised-only ablation: none.
    unlabeled: config.consistencyWeight === 0 ? NO_UNLABELED_VIEWS : 'weakPair',
  }),
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime {
    const { config } = context;
    const numClasses = requireClasses('semisup:mean-teacher', context.numClasses);
    const student = createClassifierNetwork(context, numClasses, config.dropout);
    const teacher = copyOfNetwork(context, student, numClasses, config.dropout);
    return {
      // The teacher is the model Mean Teacher reports, evaluated and saved.
      encoder: teacher.encoder,
      trainable: { encoder: student.encoder.model, classifier: student.classifier },
      frozen: { teacherEncoder: teacher.encoder.model, teacherClassifier: teacher.classifier },
      semisup: { student, ema: teacher },
      products: () => ({ classifier: teacher.classifier, studentEncoder: student.encoder, studentClassifier: student.classifier }),
      classifier: reportedClassifier(teacher, 'teacher'),
      momentumPairs: {
        pairs: [
          { target: teacher.encoder.model, source: student.encoder.model },
          { target: teacher.classifier, source: student.classifier },
        ],
        momentum: ({ step }) => meanTeacherDecay(config.emaDecay, step),
      },
      step(batch, stepContext) {
        if (config.consistencyWeight === 0) return supervisedStep(student, batch.labeled);
        const labels = batch.labeled.labels;
        const [studentView, teacherView] = batch.unlabeled.views;
        if (!studentView || !teacherView)
          throw new SslError('shape-mismatch', 'semisup:mean-teacher expects two views of the unlabeled batch (policy weakPair).');
        const [labeledLogits, studentLogits] = forwardTogether(student, [batch.labeled.views[0], studentView], true);
        // The teacher runs in training mode too (dropout on, batch statistics), as the paper's code does; its
        // output is a constant target (its forward runs off the tape, so none of its activations is kept for the
        // backward).
        const teacherProbabilities = noGradient(() => tf.softmax(classifierLogits(teacher, teacherView, true)));
        const supervisedLoss = hardLabelCrossEntropy(labeledLogits, labels);
        // The consistency cost J = E ‖f(x, θ', η') − f(x, θ, η)‖² (paper eq. 1), on softmax outputs.
        const consistencyLoss = consistencyMse(tf.softmax(studentLogits), teacherProbabilities);
        const weight = config.consistencyWeight * sigmoidRampUp(stepContext.progress, config.rampUp);
        const loss = tf.add(supervisedLoss, tf.mul(weight, consistencyLoss)) as Scalar;
        return {
          loss,
          metrics: {
            supervisedLoss,
            consistencyLoss,
            consistencyWeight: tf.scalar(weight),
            supervisedAccuracy: accuracy(labeledLogits, labels),
          },
        };
      },
    };
  },
});
