import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { accuracy, copyWeights, defineMethod, hardLabelCrossEntropy, invalidConfig } from '@ssl/core';
import type { LabeledImageViews, Pool, Pools, RoundEndContext } from '@ssl/core';
import { annotationTable, gatherAnnotated } from '../shared/annotations';
import type { AnnotationTable } from '../shared/annotations';
import { NO_UNLABELED_VIEWS, classifierLogits, createClassifierNetwork, requireClasses } from '../shared/classifier-network';
import type { ClassifierNetwork, SemisupRuntime } from '../shared/classifier-network';
import { SEMISUP_TRAINING } from '../shared/training';
import { requireDropout, requireFraction, requirePositiveInteger } from '../shared/validate';
import { predictPool, topKPerClass } from '../self-training/self-training';
import type { PseudoLabels } from '../self-training/self-training';

/** How an image is split into co-training's two feature sets (two halves of the pixels). */
export type FeatureSplit = 'top-bottom' | 'left-right';

/**
 * Co-training (Blum & Mitchell 1998): two classifiers, each seeing its own half of every image, start from
 * the same labels; after each round each one labels its most confident unlabeled samples for the other,
 * and both retrain on the given labels plus what the other taught them.
 */
export interface CoTrainingConfig {
  /** Rounds; each runs the run's epochs. */
  rounds: number;
  /** The two views: 'top-bottom' (view 1 the upper half of the rows) or 'left-right' (view 1 the left half of the columns). */
  split: FeatureSplit;
  /**
   * k: after each round each learner teaches the other its k most confident predictions of each class
   * (Blum & Mitchell's p positive and n negative examples per iteration). 0 = the supervised-only
   * ablation: the same two learners on their views, combined the same way, nothing taught.
   */
  perClass: number;
  /** Minimum confidence (max softmax of the teaching learner) of a taught label; 0 teaches regardless. */
  threshold: number;
  /** Unlabeled images per labeled image in a batch; only those already taught to a learner train it. */
  unlabeledRatio: number;
  /** 'fresh': new learners each round (Blum & Mitchell retrain); 'continue': from the last round's weights. */
  learners: 'fresh' | 'continue';
  /** Dropout on each classifier's input features. */
  dropout: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'semisup:co-training': CoTrainingConfig;
  }
}

/** The pools holding what each learner has been taught: ids and the other learner's labels. */
export const CO_TRAINING_POOLS = ['co-training/view-1', 'co-training/view-2'] as const;

/**
 * The two complementary 0/1 masks [1, H, W, 1] of a feature split: view 1 keeps the upper (left) ⌈H/2⌉
 * rows (⌈W/2⌉ columns), view 2 the rest, so mask1 + mask2 = 1 everywhere. A learner sees the image times
 * its mask: the same input shape (one encoder spec for both), half the pixels.
 */
export function featureSplitMasks(split: FeatureSplit, height: number, width: number): [Tensor4D, Tensor4D] {
  return tf.tidy(() => {
    const values = new Float32Array(height * width);
    for (let row = 0; row < height; row++)
      for (let column = 0; column < width; column++)
        values[row * width + column] = (split === 'top-bottom' ? row < Math.ceil(height / 2) : column < Math.ceil(width / 2)) ? 1 : 0;
    const first = tf.tensor4d(values, [1, height, width, 1]);
    return [first, tf.sub(1, first) as Tensor4D];
  });
}

/**
 * Co-training's combined prediction: Blum & Mitchell's P(y | x1)·P(y | x2), normalised, computed as the
 * softmax of the summed log-probabilities of the two learners.
 */
export function combineViews(logitsFirst: Tensor2D, logitsSecond: Tensor2D): Tensor2D {
  return tf.tidy(() => tf.softmax(tf.add(tf.logSoftmax(logitsFirst), tf.logSoftmax(logitsSecond))) as Tensor2D);
}

/**
 * What each learner teaches the other after a round: each picks, among the unlabeled samples neither has
 * been taught yet (taught samples leave the unlabeled data, as Blum & Mitchell's U), its k most confident
 * predictions per class; learner 1's picks go to learner 2's pool and the other way round. Earlier
 * teachings stay with their labels.
 */
export function exchangeLabels(
  taught: readonly [Pool, Pool],
  predictions: readonly [PseudoLabels, PseudoLabels],
  perClass: number,
  threshold: number,
  numClasses: number,
): [Pool, Pool] {
  const used = new Set([...taught[0].ids, ...taught[1].ids]);
  const picks = predictions.map((p) => {
    const open = Array.from(p.ids.keys()).filter((i) => !used.has(p.ids[i]));
    const candidates: PseudoLabels = {
      ids: Int32Array.from(open, (i) => p.ids[i]),
      labels: Int32Array.from(open, (i) => p.labels[i]),
      confidences: Float32Array.from(open, (i) => p.confidences[i]),
    };
    return perClass === 0
      ? { ids: new Int32Array(0), labels: new Int32Array(0) }
      : topKPerClass(candidates, perClass, threshold, numClasses);
  });
  const extend = (pool: Pool, added: { ids: Int32Array; labels: Int32Array }): Pool => ({
    ids: Int32Array.from([...pool.ids, ...added.ids]),
    labels: Int32Array.from([...(pool.labels ?? []), ...added.labels]),
  });
  // Learner 1's picks teach learner 2 and learner 2's teach learner 1.
  return [extend(taught[0], picks[1]), extend(taught[1], picks[0])];
}

function takenPool(pools: Pools, name: string): Pool {
  return pools.get(name) ?? { ids: new Int32Array(0), labels: new Int32Array(0) };
}

interface Learner {
  readonly network: ClassifierNetwork;
  readonly mask: Tensor4D;
  readonly taught: AnnotationTable;
}

/** One learner's loss: cross-entropy over its view of the labeled rows and of the unlabeled rows it has been taught (the union L_v, each row weighing the same). */
function learnerLoss(learner: Learner, labeled: LabeledImageViews, unlabeled: { view?: Tensor4D; indices: Int32Array }) {
  const taught = gatherAnnotated(learner.taught, unlabeled.view, unlabeled.indices);
  const images = taught ? (tf.concat([labeled.views[0], taught.images], 0) as Tensor4D) : labeled.views[0];
  const labels = taught ? (tf.concat([labeled.labels, taught.labels], 0) as Tensor1D) : labeled.labels;
  const logits = classifierLogits(learner.network, tf.mul(images, learner.mask) as Tensor4D, true);
  const labeledLogits = tf.slice(logits, [0, 0], [labeled.labels.shape[0], -1]) as Tensor2D;
  return { loss: hardLabelCrossEntropy(logits, labels), labeledLogits, taughtRows: taught?.count ?? 0 };
}

export const coTraining = defineMethod<CoTrainingConfig, 'semi-supervised'>({
  name: 'co-training',
  description:
    'Two learners on two halves of each image teach each other their most confident labels, round after round (Blum & Mitchell 1998).',
  paper: {
    title: 'Combining Labeled and Unlabeled Data with Co-Training',
    authors: 'Blum, Mitchell',
    year: 1998,
    url: 'https://doi.org/10.1145/279943.279962',
  },
  data: 'semi-supervised',
  unlabeledRatio: (config) => config.unlabeledRatio,
  rounds: (config) => config.rounds,
  defaults: { rounds: 3, split: 'top-bottom', perClass: 10, threshold: 0, unlabeledRatio: 3, learners: 'fresh', dropout: 0 },
  validate(config) {
    requirePositiveInteger('rounds', config.rounds);
    if (config.split !== 'top-bottom' && config.split !== 'left-right')
      invalidConfig('split', config.split, `'top-bottom' or 'left-right'`);
    if (!(Number.isInteger(config.perClass) && config.perClass >= 0))
      invalidConfig('perClass', config.perClass, 'an integer ≥ 0 (0: the supervised-only ablation)');
    requireFraction('threshold', config.threshold);
    requirePositiveInteger('unlabeledRatio', config.unlabeledRatio);
    if (config.learners !== 'fresh' && config.learners !== 'continue') invalidConfig('learners', config.learners, `'fresh' or 'continue'`);
    requireDropout('dropout', config.dropout);
  },
  // The supervised-only ablation: the same two learners, rounds and steps, nothing taught.
  supervisedControl: (config) => ({ ...config, perClass: 0 }),
  // Taught samples are unlabeled ids: the unlabeled batch brings them, in the same weak view as the labels.
  views: (config) => ({ labeled: 'weak', unlabeled: config.perClass === 0 ? NO_UNLABELED_VIEWS : 'weak' }),
  training: SEMISUP_TRAINING,
  build(context): SemisupRuntime {
    const { config, previous, pools, inputShape } = context;
    const numClasses = requireClasses('semisup:co-training', context.numClasses);
    const networks = [
      createClassifierNetwork(context, numClasses, config.dropout),
      createClassifierNetwork(context, numClasses, config.dropout),
    ];
    if (previous && config.learners === 'continue') {
      copyWeights(networks[0].encoder.model, previous.trainable.encoder);
      copyWeights(networks[0].classifier, previous.trainable.classifier);
      copyWeights(networks[1].encoder.model, previous.trainable.secondEncoder);
      copyWeights(networks[1].classifier, previous.trainable.secondClassifier);
    }
    const masks = featureSplitMasks(config.split, inputShape[0], inputShape[1]);
    const learners: Learner[] = networks.map((network, v) => ({
      network,
      mask: masks[v],
      taught: annotationTable(pools.get(CO_TRAINING_POOLS[v])),
    }));
    const taughtSizes = learners.map((l) => l.taught.size);
    const predict = (images: Tensor4D, batchSize: number): Tensor2D =>
      tf.tidy(() => {
        const parts: Tensor2D[] = [];
        for (let start = 0; start < images.shape[0]; start += batchSize) {
          const chunk = tf.slice(images, [start, 0, 0, 0], [Math.min(batchSize, images.shape[0] - start), -1, -1, -1]);
          const [first, second] = learners.map((l) => classifierLogits(l.network, tf.mul(chunk, l.mask) as Tensor4D, false));
          parts.push(combineViews(first, second));
        }
        return (parts.length === 1 ? parts[0] : tf.concat(parts, 0)) as Tensor2D;
      });
    const runtime: SemisupRuntime = {
      // Learner 1 is the encoder callbacks evaluate and the run saves; predictClasses combines both.
      encoder: networks[0].encoder,
      trainable: {
        encoder: networks[0].encoder.model,
        classifier: networks[0].classifier,
        secondEncoder: networks[1].encoder.model,
        secondClassifier: networks[1].classifier,
      },
      semisup: { student: networks[0], predict },
      classifier: {
        description: 'classifier top-1 (both learners combined)',
        control: 'supervised-only',
        probabilities: (images) => predict(images, 256),
      },
      products: () => ({
        classifier: networks[0].classifier,
        secondEncoder: networks[1].encoder,
        secondClassifier: networks[1].classifier,
      }),
      step(batch) {
        const unlabeled = { view: batch.unlabeled.views[0], indices: batch.unlabeled.indices };
        const [first, second] = learners.map((learner) => learnerLoss(learner, batch.labeled, unlabeled));
        const labels = batch.labeled.labels;
        return {
          // The learners share no weights: the sum trains each on its own loss.
          loss: tf.add(first.loss, second.loss) as Scalar,
          metrics: {
            firstViewLoss: first.loss,
            secondViewLoss: second.loss,
            firstViewAccuracy: accuracy(first.labeledLogits, labels),
            secondViewAccuracy: accuracy(second.labeledLogits, labels),
            supervisedAccuracy: accuracy(combineViews(first.labeledLogits, second.labeledLogits), labels),
            taughtRows: tf.scalar(first.taughtRows + second.taughtRows),
            firstViewTaught: tf.scalar(taughtSizes[0]),
            secondViewTaught: tf.scalar(taughtSizes[1]),
          },
        };
      },
      endRound({ pools: roundPools, images }: RoundEndContext) {
        const unlabeledIds = roundPools.get('unlabeled')!.ids;
        const predictions = learners.map((learner) =>
          predictPool(learner.network, unlabeledIds, (ids) => tf.tidy(() => tf.mul(images(ids), learner.mask) as Tensor4D)),
        ) as [PseudoLabels, PseudoLabels];
        const taught = exchangeLabels(
          [takenPool(roundPools, CO_TRAINING_POOLS[0]), takenPool(roundPools, CO_TRAINING_POOLS[1])],
          predictions,
          config.perClass,
          config.threshold,
          numClasses,
        );
        roundPools.set(CO_TRAINING_POOLS[0], taught[0]);
        roundPools.set(CO_TRAINING_POOLS[1], taught[1]);
      },
      dispose() {
        tf.dispose(masks);
      },
    };
    return runtime;
  },
});
