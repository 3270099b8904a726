import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { accuracy, copyWeights, defineMethod, hardLabelCrossEntropy, invalidConfig } from '@ssl/core';
import type { Pool, RoundEndContext } from '@ssl/core';
import { annotationTable, gatherAnnotated } from '../shared/annotations';
import { topKPerClass } from '../self-training/self-training';
import type { PseudoLabels } from '../self-training/self-training';
import {
  NO_UNLABELED_VIEWS,
  createClassifierNetwork,
  forwardTogether,
  predictProbabilities,
  requireClasses,
  supervisedStep,
} from '../shared/classifier-network';
import type { ClassifierNetwork, SemisupRuntime } from '../shared/classifier-network';
import { STUDENT_EMA_DEFAULTS, studentRuntimeParts, validateEma } from '../shared/ema-model';
import type { EmaSettings } from '../shared/ema-model';
import { SEMISUP_TRAINING } from '../shared/training';
import { noisedView, validateInputNoise } from '../views/weak-rand-augment';
import type { InputNoiseSettings } from '../views/weak-rand-augment';
import { requireDropout, requireFraction, requireNonNegativeNumber, requirePositiveInteger } from '../shared/validate';

/** One geometric transformation of data distillation's multi-transform inference. */
export interface DistillationTransform {
  /** Resize factor about the centre: > 1 zooms in (the centre crop of the enlarged image), < 1 shrinks into a zero border. */
  readonly scale: number;
  /** Mirror left–right after scaling. */
  readonly flip: boolean;
}

/**
 * Data distillation (Radosavovic et al. 2018): a model trained on the labels predicts every unlabeled image
 * under several transformations (scales and flips); the ensembled prediction becomes the image's
 * annotation, and a student trains on the given plus the generated annotations.
 */
export interface DataDistillationConfig extends EmaSettings, InputNoiseSettings {
  /** Rounds: round 0 trains the first model on labels; each later round a student on labels + the previous model's annotations. */
  rounds: number;
  /** Scales of the multi-transform inference (the paper: multi-scale testing). */
  scales: number[];
  /** Add the mirrored image at every scale (the paper: horizontal flipping). */
  flip: boolean;
  /** Ensemble confidence (max of the mean softmax) an annotation needs; 0 annotates every unlabeled image. */
  threshold: number;
  /**
   * At most this many annotations per predicted class, the most confident (ties by the smaller id); 0 keeps
   * every one over the threshold. A ~70% model's confident annotations pile up on the classes it finds easy
   * and on the one it confuses others into (full data, seed 0, τ 0.9: 6 565 'coat' at 54% right, 413
   * 'T-shirt'), and the student learns that imbalance; a cap per class keeps the annotations balanced.
   */
  perClass: number;
  /** Weight of a generated annotation relative to a given label in the student's loss; 0 = the supervised-only ablation. */
  annotationWeight: number;
  /** Unlabeled (annotated) images per labeled image in a batch, so every batch mixes both kinds. */
  unlabeledRatio: number;
  /** 'fresh': each student starts from a new initialisation (the paper retrains); 'continue': from the last model. */
  student: 'fresh' | 'continue';
  /** Dropout on the classifier's input features. */
  dropout: number;
  /**
   * RandAugment on every training image of every round, as Noisy Student's students (default false: the paper's
   * flip + translate). Not the paper's: a student that learns its teacher's annotations under the teacher's own
   * augmentation copies the teacher, mistakes included (see the README's full-data search).
   */
  inputNoise: boolean;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:data-distillation': DataDistillationConfig;
  }
}

/** The pool holding the generated annotations (ids + labels) the next round trains on. */
export const DATA_DISTILLATION_POOL = 'data-distillation/annotations';

/** Every scale, each without and (when `flip`) with mirroring. */
export function distillationTransforms(scales: readonly number[], flip: boolean): DistillationTransform[] {
  return scales.flatMap((scale) => (flip ? [false, true] : [false]).map((mirrored) => ({ scale, flip: mirrored })));
}

/**
 * `images` [N, H, W, C] under one transformation, same shape: bilinear resize to round(s·H) × round(s·W),
 * then the centred H × W crop (s > 1) or a centred placement in a zero border (s < 1; Fashion-MNIST's
 * background is 0), then the optional left–right mirror.
 */
export function transformImages(images: Tensor4D, { scale, flip }: DistillationTransform): Tensor4D {
  return tf.tidy(() => {
    const [, height, width] = images.shape;
    const [h, w] = [Math.max(1, Math.round(height * scale)), Math.max(1, Math.round(width * scale))];
    let out: Tensor4D = images;
    if (h !== height || w !== width) {
      const resized = tf.image.resizeBilinear(images, [h, w]);
      const top = Math.floor(Math.abs(h - height) / 2);
      const left = Math.floor(Math.abs(w - width) / 2);
      out =
        h >= height
          ? (tf.slice(resized, [0, top, left, 0], [-1, height, width, -1]) as Tensor4D)
          : (tf.pad(resized, [
              [0, 0],
              [top, height - h - top],
              [left, width - w - left],
              [0, 0],
            ]) as Tensor4D);
    }
    return flip ? (tf.reverse(out, 2) as Tensor4D) : tf.clone(out);
  });
}

/**
 * The ensembled prediction of data distillation (§3: one model, several transformations of each unlabeled
 * image, predictions aggregated): for classification, the mean of the softmax outputs over the transforms,
 * (1/T) Σ_t p(y | transform_t(x)). `predict` maps images to probabilities [N, K].
 */
export function ensemblePredictions(
  predict: (images: Tensor4D) => Tensor2D,
  images: Tensor4D,
  transforms: readonly DistillationTransform[],
): Tensor2D {
  if (transforms.length === 0) invalidConfig('transforms', transforms, 'at least one transformation');
  return tf.tidy(() => tf.div(tf.addN(transforms.map((t) => predict(transformImages(images, t)))), transforms.length) as Tensor2D);
}

/** The ensemble's class and confidence for every unlabeled id, in inference mode, 256 images at a time. */
function annotatePool(
  network: ClassifierNetwork,
  ids: Int32Array,
  images: RoundEndContext['images'],
  transforms: readonly DistillationTransform[],
) {
  const labels = new Int32Array(ids.length);
  const confidences = new Float32Array(ids.length);
  for (let start = 0; start < ids.length; start += 256) {
    const chunk = ids.subarray(start, Math.min(ids.length, start + 256));
    const [predicted, confidence] = tf.tidy(() => {
      const mean = ensemblePredictions((x) => predictProbabilities(network, x), images(chunk), transforms);
      return [tf.argMax(mean, 1), tf.max(mean, 1)];
    });
    labels.set(predicted.dataSync() as Int32Array, start);
    confidences.set(confidence.dataSync() as Float32Array, start);
    tf.dispose([predicted, confidence]);
  }
  return { labels, confidences };
}

/** The annotations a round keeps: confidence ≥ threshold, and with `perClass` > 0 the most confident of each class. */
export function keptAnnotations(
  annotated: PseudoLabels,
  config: Pick<DataDistillationConfig, 'threshold' | 'perClass'>,
  numClasses: number,
): Pool {
  if (config.perClass > 0) {
    const { ids, labels } = topKPerClass(annotated, config.perClass, config.threshold, numClasses);
    return { ids, labels };
  }
  const kept = Array.from(annotated.ids.keys()).filter((i) => annotated.confidences[i] >= config.threshold);
  return { ids: Int32Array.from(kept, (i) => annotated.ids[i]), labels: Int32Array.from(kept, (i) => annotated.labels[i]) };
}

export const dataDistillation = defineMethod<DataDistillationConfig, 'semi-supervised'>({
  name: 'data-distillation',
  description:
    'A model’s predictions ensembled over scales and flips of each unlabeled image become annotations a student trains on (data distillation, Radosavovic et al. 2018).',
  paper: {
    title: 'Data Distillation: Towards Omni-Supervised Learning',
    authors: 'Radosavovic, Dollár, Girshick, Gkioxari, He',
    year: 2018,
    url: 'https://arxiv.org/abs/1712.04440',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  rounds: (config) => config.rounds,
  defaults: {
    ...STUDENT_EMA_DEFAULTS,
    rounds: 2,
    scales: [0.9, 1, 1.1],
    flip: true,
    threshold: 0,
    perClass: 0,
    annotationWeight: 1,
    unlabeledRatio: 1,
    student: 'fresh',
    dropout: 0,
    inputNoise: false,
    augment: {},
  },
  validate(config) {
    validateEma(config);
    requirePositiveInteger('rounds', config.rounds);
    if (!(Array.isArray(config.scales) && config.scales.length > 0 && config.scales.every((s) => typeof s === 'number' && s > 0 && s <= 4)))
      invalidConfig('scales', config.scales, 'a non-empty array of numbers in (0, 4]');
    if (typeof config.flip !== 'boolean') invalidConfig('flip', config.flip, 'true or false');
    requireFraction('threshold', config.threshold);
    if (!(Number.isInteger(config.perClass) && config.perClass >= 0))
      invalidConfig('perClass', config.perClass, 'a whole number ≥ 0 (0: no cap per class)');
    requireNonNegativeNumber('annotationWeight', config.annotationWeight);
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio);
    if (config.student !== 'fresh' && config.student !== 'continue') invalidConfig('student', config.student, `'fresh' or 'continue'`);
    requireDropout('dropout', config.dropout);
    validateInputNoise(config);
  },
  // The supervised-only ablation: the same rounds, students and input noise, no generated annotations.
  supervisedControl: (config) => ({ ...config, annotationWeight: 0 }),
  views(config) {
    const noised = noisedView(config);
    return { labeled: noised, unlabeled: config.annotationWeight === 0 ? NO_UNLABELED_VIEWS : noised };
  },
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime {
    const { config, previous, pools } = context;
    const numClasses = requireClasses('semisup:data-distillation', context.numClasses);
    const student = createClassifierNetwork(context, numClasses, config.dropout);
    if (previous && config.student === 'continue') {
      copyWeights(student.encoder.model, previous.trainable.encoder);
      copyWeights(student.classifier, previous.trainable.classifier);
    }
    const annotations = annotationTable(pools.get(DATA_DISTILLATION_POOL));
    const transforms = distillationTransforms(config.scales, config.flip);
    return {
      ...studentRuntimeParts(context, student, () => createClassifierNetwork(context, numClasses, config.dropout)),
      step(batch) {
        const annotated =
          config.annotationWeight === 0 ? undefined : gatherAnnotated(annotations, batch.unlabeled.views[0], batch.unlabeled.indices);
        if (!annotated) return supervisedStep(student, batch.labeled);
        const labels = batch.labeled.labels;
        const [labeledLogits, annotatedLogits] = forwardTogether(student, [batch.labeled.views[0], annotated.images], true);
        const supervisedLoss = hardLabelCrossEntropy(labeledLogits, labels);
        const annotationLoss = hardLabelCrossEntropy(annotatedLogits, annotated.labels);
        // The student trains on the union (§3): every given label weighs 1 and every generated one
        // annotationWeight, so the loss is their weighted mean over the batch.
        const labeledCount = labels.shape[0];
        const weight = config.annotationWeight * annotated.count;
        const loss = tf.div(tf.add(tf.mul(supervisedLoss, labeledCount), tf.mul(annotationLoss, weight)), labeledCount + weight) as Scalar;
        return {
          loss,
          metrics: {
            supervisedLoss,
            annotationLoss,
            annotatedRate: tf.scalar(annotated.count / batch.unlabeled.indices.length),
            annotations: tf.scalar(annotations.size),
            supervisedAccuracy: accuracy(labeledLogits, labels),
          },
        };
      },
      endRound({ pools: roundPools, images }) {
        const ids = roundPools.get('unlabeled')!.ids;
        const { labels, confidences } = annotatePool(student, ids, images, transforms);
        // The newest model's annotations replace the earlier ones.
        roundPools.set(DATA_DISTILLATION_POOL, keptAnnotations({ ids, labels, confidences }, config, numClasses));
      },
    };
  },
});
