/**
 * A FixMatch step at issue 32's benchmark shape (Sohn et al. 2020; `ssl semisup semisup:fixmatch --batch-size 16`
 * with recipes/benchmark/fixmatch.json): B = 16 labeled weak views, μB = 48 weak and 48 strong unlabeled views,
 * all 112 through one forward of @ssl's CNN 16-32-64 (conv3×3 without bias + BN + ReLU per stage, max-pooling
 * between stages, global average pool) and a linear classifier to 10 classes, in training mode. Loss: labeled
 * cross-entropy + the confidence-masked cross-entropy of the strong views on the weak views' argmax (max softmax
 * ≥ 0.95, mean over all 48); SGD with Nesterov momentum 0.9, lr 0.03, weight decay 5e-4 on the ≥ 2-D weights
 * (core's optimizer); then the EMA copy of every weight, batch-norm statistics included (decay 0.999). The loss
 * and the mask rate are read back, as the trainer reads its metrics.
 *
 * The networks, optimizer, EMA and gradients are the ones the trainer uses (createEncoder, linearClassifier,
 * createOptimizer, emaUpdate, variableGrads). The views come pre-made on both sides: augmentation is NOT in the
 * timed step (the PyTorch reference augments per image with PIL in DataLoader workers, off the training thread;
 * @ssl's batched weak/strong views of 48 images cost ~13 CPU ms at this shape, measured apart). Mirrors
 * `fixmatch-cnn28-b16` in bench/torch_workloads.py.
 */
import * as tf from '@tensorflow/tfjs-core';

import { hardLabelCrossEntropy } from '../../src/method-helpers';
import { createEncoder } from '../../src/nn/create-encoder';
import { stopGradient } from '../../src/ops';
import { linearClassifier } from '../../src/nn/heads';
import { copyWeights, emaUpdate } from '../../src/train/ema';
import { variableGrads } from '../../src/train/gradients';
import { createOptimizer } from '../../src/train/optimizers';
import { kernelTimes, type TrainingStep } from './ops';

export const LABELED_BATCH = 16;
export const UNLABELED_RATIO = 3;
const CLASSES = 10;
const THRESHOLD = 0.95;
const LEARNING_RATE = 0.03;
const EMA_DECAY = 0.999;

export function fixmatchCnn28B16(): TrainingStep {
  const unlabeled = UNLABELED_RATIO * LABELED_BATCH;
  const spec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], seed: 0 } as const;
  const encoder = createEncoder(spec);
  const classifier = linearClassifier({ inputDim: encoder.featureDim, numClasses: CLASSES, seed: 1 });
  const emaEncoder = createEncoder({ ...spec, seed: 2 });
  const emaClassifier = linearClassifier({ inputDim: encoder.featureDim, numClasses: CLASSES, seed: 3 });
  copyWeights(emaEncoder.model, encoder.model);
  copyWeights(emaClassifier, classifier);
  const trainable = [...encoder.model.trainableWeights, ...classifier.trainableWeights].map((w) => w.read() as tf.Variable);
  const optimizer = createOptimizer({ kind: 'sgd', lr: LEARNING_RATE, momentum: 0.9, nesterov: true, weightDecay: 5e-4 }, trainable);
  // Labeled weak views, then the unlabeled weak views, then their strong views: the order FixMatch concatenates.
  const images = tf.randomUniform([LABELED_BATCH + 2 * unlabeled, 28, 28, 1], 0, 1, 'float32', 11) as tf.Tensor4D;
  const labels = tf.tidy(() => tf.cast(tf.floor(tf.randomUniform([LABELED_BATCH], 0, CLASSES, 'float32', 12)), 'int32')) as tf.Tensor1D;
  let maskRate: tf.Scalar | undefined;

  const loss = (): tf.Scalar => {
    const logits = classifier.apply(encoder.features(images, { training: true })) as tf.Tensor2D;
    const labeled = tf.slice(logits, [0, 0], [LABELED_BATCH, -1]) as tf.Tensor2D;
    const weak = tf.slice(logits, [LABELED_BATCH, 0], [unlabeled, -1]) as tf.Tensor2D;
    const strong = tf.slice(logits, [LABELED_BATCH + unlabeled, 0], [unlabeled, -1]) as tf.Tensor2D;
    // As semisup's fixMatchLoss: pseudo-labels and mask from the detached weak softmax, mean over all μB rows.
    const weakProbabilities = stopGradient(tf.softmax(weak));
    const pseudoLabels = tf.argMax(weakProbabilities, 1) as tf.Tensor1D;
    const mask = tf.cast(tf.greaterEqual(tf.max(weakProbabilities, 1), THRESHOLD), 'float32');
    const labelLogits = tf.sum(tf.mul(strong, tf.oneHot(pseudoLabels, CLASSES)), 1);
    const unlabeledLoss = tf.mean(tf.mul(tf.sub(tf.logSumExp(strong, 1), labelLogits), mask));
    maskRate = tf.keep(tf.mean(mask) as tf.Scalar);
    return tf.add(hardLabelCrossEntropy(labeled, labels), unlabeledLoss) as tf.Scalar;
  };

  const run = (): number => {
    const { value, grads } = variableGrads(loss, trainable);
    const result = value.dataSync()[0];
    maskRate!.dataSync();
    optimizer.apply(
      trainable.map((v) => grads[v.name] ?? null),
      LEARNING_RATE,
    );
    emaUpdate(emaEncoder.model, encoder.model, EMA_DECAY);
    emaUpdate(emaClassifier, classifier, EMA_DECAY);
    tf.dispose([value, maskRate!, ...Object.values(grads)]);
    return result;
  };
  return {
    step: run,
    profile: () => kernelTimes(run),
    dispose() {
      optimizer.dispose();
      tf.dispose([images, labels]);
      for (const model of [encoder.model, classifier, emaEncoder.model, emaClassifier]) model.dispose();
    },
  };
}
