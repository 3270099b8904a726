import * as tf from '@tensorflow/tfjs-core';
import { copyWeights, defineMethod, invalidConfig } from '@ssl/core';
import type { Pool, RoundEndContext } from '@ssl/core';
import {
  NO_UNLABELED_VIEWS,
  createClassifierNetwork,
  predictProbabilities,
  requireClasses,
  supervisedStep,
} from '../shared/classifier-network';
import type { ClassifierNetwork, SemisupRuntime } from '../shared/classifier-network';
import { STUDENT_EMA_DEFAULTS, studentRuntimeParts, validateEma } from '../shared/ema-model';
import type { EmaSettings } from '../shared/ema-model';
import { SEMISUP_TRAINING } from '../shared/training';
import { requireDropout, requireFraction, requirePositiveInteger } from '../shared/validate';

/** Which pseudo-labeled samples a round adds to the labeled pool. */
export type SelfTrainingSelection = 'top-k' | 'all' | 'weighted' | 'none';

/**
 * Offline self-training (Yarowsky 1995; Scudder 1965; the teacher–student loop Noisy Student iterates):
 * round 0 trains on the labels; after each round the trained model predicts the unlabeled pool, and the
 * next round trains on the labels plus the selected pseudo-labels.
 */
export interface SelfTrainingConfig extends EmaSettings {
  /** Rounds; each round runs the run's epochs. */
  rounds: number;
  /**
   * 'top-k': each round adds the `perClass` most confident new samples of each predicted class, which keep
   * their pseudo-labels in later rounds (so early mistakes stay); 'all': every unlabeled sample with its
   * newest pseudo-label; 'weighted': as 'all', each weighted by its confidence (max softmax); 'none': no
   * pseudo-labels, the supervised-only ablation with the same rounds, students and steps.
   */
  selection: SelfTrainingSelection;
  /** k of 'top-k': samples added per class and round. */
  perClass: number;
  /** Minimum confidence (max softmax) a pseudo-label needs to be added; 0 adds regardless. */
  threshold: number;
  /** 'fresh': each round trains a new student from a new initialisation; 'continue': from the last round's weights. */
  student: 'fresh' | 'continue';
  /** Dropout on the classifier's input features (student noise; the encoder's is its spec's `dropout`). */
  dropout: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:self-training': SelfTrainingConfig;
  }
}

export interface PseudoLabels {
  readonly ids: Int32Array;
  readonly labels: Int32Array;
  readonly confidences: Float32Array;
}

/** The network's class and max softmax for every id, predicted in inference mode 256 images at a time. */
export function predictPool(network: ClassifierNetwork, ids: Int32Array, images: RoundEndContext['images']): PseudoLabels {
  const labels = new Int32Array(ids.length);
  const confidences = new Float32Array(ids.length);
  for (let start = 0; start < ids.length; start += 256) {
    const chunk = ids.subarray(start, Math.min(ids.length, start + 256));
    const [predicted, confidence] = tf.tidy(() => {
      const batch = images(chunk);
      const probabilities = predictProbabilities(network, batch);
      batch.dispose();
      return [tf.argMax(probabilities, 1), tf.max(probabilities, 1)];
    });
    labels.set(predicted.dataSync() as Int32Array, start);
    confidences.set(confidence.dataSync() as Float32Array, start);
    tf.dispose([predicted, confidence]);
  }
  return { ids: Int32Array.from(ids), labels, confidences };
}

/**
 * For each class, the `perClass` most confident predictions of that class among `candidates` whose confidence
 * is ≥ threshold (ties broken by the smaller sample id, so the choice is deterministic).
 */
export function topKPerClass(candidates: PseudoLabels, perClass: number, threshold: number, numClasses: number): PseudoLabels {
  const chosen: number[] = [];
  for (let label = 0; label < numClasses; label++) {
    const ofClass = [];
    for (let i = 0; i < candidates.ids.length; i++)
      if (candidates.labels[i] === label && candidates.confidences[i] >= threshold) ofClass.push(i);
    ofClass.sort((a, b) => candidates.confidences[b] - candidates.confidences[a] || candidates.ids[a] - candidates.ids[b]);
    chosen.push(...ofClass.slice(0, perClass));
  }
  chosen.sort((a, b) => candidates.ids[a] - candidates.ids[b]);
  return {
    ids: Int32Array.from(chosen, (i) => candidates.ids[i]),
    labels: Int32Array.from(chosen, (i) => candidates.labels[i]),
    confidences: Float32Array.from(chosen, (i) => candidates.confidences[i]),
  };
}

/**
 * The labeled pool of the next round: the given labels (the labeled ids that are not in the unlabeled pool)
 * followed by the pseudo-labels the configured selection keeps.
 */
export function nextLabeledPool(
  labeled: Pool,
  unlabeledIds: Int32Array,
  predictions: PseudoLabels,
  config: SelfTrainingConfig,
  numClasses: number,
): Pool {
  const unlabeled = new Set(unlabeledIds);
  const given = Array.from(labeled.ids.keys()).filter((k) => !unlabeled.has(labeled.ids[k]));
  let pseudo: PseudoLabels;
  if (config.selection === 'none') {
    pseudo = { ids: new Int32Array(0), labels: new Int32Array(0), confidences: new Float32Array(0) };
  } else if (config.selection === 'top-k') {
    // Pseudo-labels added by earlier rounds stay as they were; new ones come from the rest.
    const earlier = Array.from(labeled.ids.keys()).filter((k) => unlabeled.has(labeled.ids[k]));
    const taken = new Set(earlier.map((k) => labeled.ids[k]));
    const rest = Array.from(predictions.ids.keys()).filter((i) => !taken.has(predictions.ids[i]));
    const added = topKPerClass(
      {
        ids: Int32Array.from(rest, (i) => predictions.ids[i]),
        labels: Int32Array.from(rest, (i) => predictions.labels[i]),
        confidences: Float32Array.from(rest, (i) => predictions.confidences[i]),
      },
      config.perClass,
      config.threshold,
      numClasses,
    );
    pseudo = {
      ids: Int32Array.from([...earlier.map((k) => labeled.ids[k]), ...added.ids]),
      labels: Int32Array.from([...earlier.map((k) => labeled.labels![k]), ...added.labels]),
      confidences: new Float32Array(0),
    };
  } else {
    const kept = Array.from(predictions.ids.keys()).filter((i) => predictions.confidences[i] >= config.threshold);
    pseudo = {
      ids: Int32Array.from(kept, (i) => predictions.ids[i]),
      labels: Int32Array.from(kept, (i) => predictions.labels[i]),
      confidences: Float32Array.from(kept, (i) => predictions.confidences[i]),
    };
  }
  return {
    ids: Int32Array.from([...given.map((k) => labeled.ids[k]), ...pseudo.ids]),
    labels: Int32Array.from([...given.map((k) => labeled.labels![k]), ...pseudo.labels]),
    // Confidence-weighted: given labels weigh 1, pseudo-labels their confidence.
    weights: config.selection === 'weighted' ? Float32Array.from([...given.map(() => 1), ...pseudo.confidences]) : undefined,
  };
}

export const selfTraining = defineMethod<SelfTrainingConfig, 'semi-supervised'>({
  name: 'self-training',
  description: 'Rounds of training on labels plus the previous round’s pseudo-labels of the unlabeled pool (offline self-training).',
  paper: {
    title: 'Unsupervised Word Sense Disambiguation Rivaling Supervised Methods',
    authors: 'Yarowsky',
    year: 1995,
    url: 'https://aclanthology.org/P95-1026/',
  },
  data: 'semi-supervised',
  // The unlabeled pool only sets the length of an epoch: steps train on the labeled pool alone.
  unlabeledRatio: () => 1,
  rounds: (config) => config.rounds,
  defaults: {
    ...STUDENT_EMA_DEFAULTS,
    rounds: 3,
    selection: 'top-k',
    perClass: 50,
    threshold: 0,
    student: 'fresh',
    dropout: 0,
  },
  validate(config) {
    validateEma(config);
    requirePositiveInteger('rounds', config.rounds);
    if (!['top-k', 'all', 'weighted', 'none'].includes(config.selection))
      invalidConfig('selection', config.selection, `'top-k', 'all', 'weighted' or 'none' (supervised only)`);
    requirePositiveInteger('perClass', config.perClass);
    requireFraction('threshold', config.threshold);
    if (config.student !== 'fresh' && config.student !== 'continue') invalidConfig('student', config.student, `'fresh' or 'continue'`);
    requireDropout('dropout', config.dropout);
  },
  // The supervised-only ablation: same networks, labels and steps, the unlabeled term off.
  supervisedControl: (config) => ({ ...config, selection: 'none' }),
  views: () => ({ labeled: 'weak', unlabeled: NO_UNLABELED_VIEWS }),
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime {
    const { config, previous, pools } = context;
    const numClasses = requireClasses('semisup:self-training', context.numClasses);
    const student = createClassifierNetwork(context, numClasses, config.dropout);
    if (previous && config.student === 'continue') {
      copyWeights(student.encoder.model, previous.trainable.encoder);
      copyWeights(student.classifier, previous.trainable.classifier);
    }
    const labeledPoolSize = pools.get('labeled')?.ids.length ?? 0;
    return {
      ...studentRuntimeParts(context, student, () => createClassifierNetwork(context, numClasses, config.dropout)),
      step(batch) {
        // With confidence weights the labeled loss is Σ_i w_i ℓ_i / B (hardLabelCrossEntropy with weights).
        const output = supervisedStep(student, batch.labeled);
        return { ...output, metrics: { ...output.metrics, labeledPoolSize: tf.scalar(labeledPoolSize) } };
      },
      endRound({ pools: roundPools, images }) {
        const unlabeledIds = roundPools.get('unlabeled')!.ids;
        const predictions = predictPool(student, unlabeledIds, images);
        // The unlabeled pool stays whole: it sets the length of every round's epochs.
        roundPools.set('labeled', nextLabeledPool(roundPools.get('labeled')!, unlabeledIds, predictions, config, numClasses));
      },
    };
  },
});
