import * as tf from '@tensorflow/tfjs-core';
import type { Scalar } from '@tensorflow/tfjs-core';
import { accuracy, copyWeights, defineMethod, hardLabelCrossEntropy, invalidConfig, noGradient } from '@ssl/core';
import { noisyStudentLoss } from '../losses/noisy-student';
import { noisedView, validateInputNoise } from '../views/weak-rand-augment';
import type { InputNoiseSettings } from '../views/weak-rand-augment';
import {
  NO_UNLABELED_VIEWS,
  classifierLogits,
  createClassifierNetwork,
  forwardTogether,
  requireClasses,
  supervisedStep,
} from '../shared/classifier-network';
import type { ClassifierNetwork, SemisupRuntime } from '../shared/classifier-network';
import { STUDENT_EMA_DEFAULTS, studentRuntimeParts, validateEma } from '../shared/ema-model';
import type { EmaSettings } from '../shared/ema-model';
import { SEMISUP_TRAINING } from '../shared/training';
import { requireDropout, requireFraction, requireNonNegativeNumber, requirePositiveInteger } from '../shared/validate';

/** Changes of the run's encoder spec for the students: a larger network (width) or more model noise. */
export interface StudentEncoderOverrides {
  /** CNN stage widths (e.g. [16, 32, 64] for a student twice as wide as an 8-16-32 teacher). */
  channels?: number[];
  /** ResNet width multiplier. */
  widthMultiplier?: number;
  /** Dropout inside the encoder (CNN: after each stage; ResNet: inside each block). */
  dropout?: number;
  /** Stochastic depth (ResNet and ViT encoders): block l of L dropped with probability l/L · dropPath. */
  dropPath?: number;
}

/**
 * Noisy Student (Xie et al. 2020): a teacher trained on the labels gives pseudo-labels to the unlabeled
 * images without noise; an equal-or-larger student learns labels and pseudo-labels under noise (RandAugment,
 * dropout, stochastic depth); the student becomes the next round's teacher.
 */
export interface NoisyStudentConfig extends EmaSettings, InputNoiseSettings {
  /** Rounds: round 0 trains the first teacher on labels, each later round a student of the previous one. */
  rounds: number;
  /** 'soft': the teacher's distribution is the target (the paper's default); 'hard': its argmax. */
  pseudoLabels: 'soft' | 'hard';
  /** Teacher confidence a pseudo-label needs (the paper filters ImageNet's at 0.3); 0 keeps all. */
  threshold: number;
  /** Unlabeled images per labeled image in a batch (the paper: 14 to 28 on ImageNet). */
  unlabeledRatio: number;
  /** Weight of the unlabeled term; 0 = the supervised-only ablation (same rounds, noise and students, no pseudo-labels). */
  unlabeledWeight: number;
  /** Dropout on the classifier's input features (the paper: 0.5 on the final layer). */
  dropout: number;
  /** The students' encoder: the run's spec with these changes (default none: an equal-size student). */
  studentEncoder: StudentEncoderOverrides;
  /** RandAugment on every training image (true) or only flip + translate (false: the input-noise ablation). */
  inputNoise: boolean;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:noisy-student': NoisyStudentConfig;
  }
}

const STUDENT_ENCODER_FIELDS = ['channels', 'widthMultiplier', 'dropout', 'dropPath'] as const;

export const noisyStudent = defineMethod<NoisyStudentConfig, 'semi-supervised'>({
  name: 'noisy-student',
  description:
    'A teacher pseudo-labels clean unlabeled images; a noised, equal-or-larger student learns them and teaches the next round (Noisy Student, Xie et al. 2020).',
  paper: {
    title: 'Self-training with Noisy Student improves ImageNet classification',
    authors: 'Xie, Luong, Hovy, Le',
    year: 2020,
    url: 'https://arxiv.org/abs/1911.04252',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  rounds: (config) => config.rounds,
  defaults: {
    ...STUDENT_EMA_DEFAULTS,
    rounds: 3,
    pseudoLabels: 'soft',
    threshold: 0,
    unlabeledRatio: 3,
    unlabeledWeight: 1,
    dropout: 0.5,
    studentEncoder: {},
    inputNoise: true,
    augment: {},
  },
  validate(config) {
    validateEma(config);
    requirePositiveInteger('rounds', config.rounds);
    if (config.pseudoLabels !== 'soft' && config.pseudoLabels !== 'hard')
      invalidConfig('pseudoLabels', config.pseudoLabels, `'soft' or 'hard'`);
    requireFraction('threshold', config.threshold);
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio);
    requireNonNegativeNumber('unlabeledWeight', config.unlabeledWeight);
    requireDropout('dropout', config.dropout);
    if (typeof config.studentEncoder !== 'object' || config.studentEncoder === null)
      invalidConfig('studentEncoder', config.studentEncoder, `an object with any of ${STUDENT_ENCODER_FIELDS.join(', ')}`);
    for (const key of Object.keys(config.studentEncoder)) {
      if (!(STUDENT_ENCODER_FIELDS as readonly string[]).includes(key))
        invalidConfig(
          `studentEncoder.${key}`,
          (config.studentEncoder as Record<string, unknown>)[key],
          `one of ${STUDENT_ENCODER_FIELDS.join(', ')}`,
        );
    }
    const { channels, widthMultiplier, dropout, dropPath } = config.studentEncoder;
    if (channels !== undefined && !(Array.isArray(channels) && channels.length > 0 && channels.every((c) => Number.isInteger(c) && c > 0)))
      invalidConfig('studentEncoder.channels', channels, 'a non-empty array of positive integers');
    if (widthMultiplier !== undefined && !(typeof widthMultiplier === 'number' && widthMultiplier > 0))
      invalidConfig('studentEncoder.widthMultiplier', widthMultiplier, 'a number > 0');
    if (dropout !== undefined) requireDropout('studentEncoder.dropout', dropout);
    if (dropPath !== undefined) requireDropout('studentEncoder.dropPath', dropPath);
    validateInputNoise(config);
  },
  // The supervised-only ablation: the same noised rounds and students, no pseudo-labels.
  supervisedControl: (config) => ({ ...config, unlabeledWeight: 0 }),
  views(config) {
    const noised = noisedView(config);
    return { labeled: noised, unlabeled: config.unlabeledWeight === 0 ? NO_UNLABELED_VIEWS : noised };
  },
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime {
    const { config } = context;
    const numClasses = requireClasses('semisup:noisy-student', context.numClasses);
    const previous = (context.previous as SemisupRuntime | undefined)?.semisup.student;
    // Round 0 trains the first teacher on the run's encoder; students take the overrides (equal or larger).
    const studentChanges = context.round > 0 ? { options: config.studentEncoder, field: 'studentEncoder' } : undefined;
    const student = createClassifierNetwork(context, numClasses, config.dropout, studentChanges);
    // The teacher: a frozen copy of the previous round's student (saved by checkpoints, so a resumed round has it),
    // of that student's shape: the run's encoder in round 1, the overridden one after.
    let teacher: ClassifierNetwork | undefined;
    if (previous) {
      const teacherChanges = context.round > 1 ? studentChanges : undefined;
      teacher = createClassifierNetwork(context, numClasses, config.dropout, teacherChanges);
      copyWeights(teacher.encoder.model, previous.encoder.model);
      copyWeights(teacher.classifier, previous.classifier);
    }
    // This round's EMA model, fresh from its student (made after the teacher, so the seeds before it are unchanged).
    const reported = studentRuntimeParts(context, student, () =>
      createClassifierNetwork(context, numClasses, config.dropout, studentChanges),
    );
    return {
      ...reported,
      frozen: { ...reported.frozen, ...(teacher && { teacherEncoder: teacher.encoder.model, teacherClassifier: teacher.classifier }) },
      step(batch) {
        if (!teacher || config.unlabeledWeight === 0) return supervisedStep(student, batch.labeled);
        const labels = batch.labeled.labels;
        // Algorithm 1 step 2: the unnoised teacher (inference mode, no dropout) on the clean unlabeled images,
        // off the tape (its targets carry no gradient, so none of its activations is kept for the backward).
        const teacherProbabilities = noGradient(() => tf.softmax(classifierLogits(teacher, batch.unlabeled.images, false)));
        const [labeledLogits, unlabeledLogits] = forwardTogether(student, [batch.labeled.views[0], batch.unlabeled.views[0]], true);
        const supervisedLoss = hardLabelCrossEntropy(labeledLogits, labels);
        const unlabeled = noisyStudentLoss({
          studentLogits: unlabeledLogits,
          teacherProbabilities,
          pseudoLabels: config.pseudoLabels,
          threshold: config.threshold,
        });
        return {
          // Step 3: cross-entropy on labeled images + on pseudo-labeled ones, the student noised on both.
          loss: tf.add(supervisedLoss, tf.mul(config.unlabeledWeight, unlabeled.loss)) as Scalar,
          metrics: {
            supervisedLoss,
            unlabeledLoss: unlabeled.loss,
            maskRate: tf.mean(unlabeled.mask) as Scalar,
            teacherConfidence: tf.mean(tf.max(teacherProbabilities, 1)) as Scalar,
            supervisedAccuracy: accuracy(labeledLogits, labels),
          },
        };
      },
    };
  },
});
