import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, labeledSplit, loadFashionMnist, subset, train } from '@ssl/core';
import type { EncoderSpec, MethodRuntime, OptimizerSpec, ScheduleSpec } from '@ssl/core';
import { predictClasses } from '../predict-classes';
import { semisup } from '../plugin';

/*
 * The CI-sized learning test every method here runs: the method and its own supervised-only ablation
 * (same network, labels, augmentation, optimizer, schedule and steps; only the unlabeled term switched
 * off) trained on the Fashion-MNIST sample bundled with @ssl/core, both scored on the sample's test split.
 */

export interface LearningRunOptions {
  readonly method: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** The same method with its unlabeled term off. */
  readonly supervisedConfig: Readonly<Record<string, unknown>>;
  readonly steps: number;
  readonly batchSize: number;
  readonly seed: number;
  /** Labeled images per class, drawn from the first `poolSize` training images; the rest are unlabeled. */
  readonly labeledPerClass: number;
  readonly poolSize: number;
  /** Test images scored (the first of the sample's 1 000). */
  readonly testSize: number;
  readonly encoder?: EncoderSpec;
  readonly optimizer?: OptimizerSpec;
  readonly schedule?: ScheduleSpec;
  /** Epochs of each round (multi-round methods); default: enough for `steps`. */
  readonly epochs?: number;
  /** How to score a trained runtime; default predictClasses. */
  readonly predict?: (runtime: MethodRuntime, images: tf.Tensor4D) => tf.Tensor1D;
}

export interface LearningRunResult {
  /** Test accuracy of the method and of its supervised-only ablation (their EMA models when they keep one). */
  readonly method: number;
  readonly supervised: number;
  /** The students' accuracies, for runs that keep an EMA model (Mean Teacher). */
  readonly methodStudent?: number;
  readonly supervisedStudent?: number;
  readonly methodSeconds: number;
  readonly supervisedSeconds: number;
}

export const LEARNING_ENCODER: EncoderSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16, 32] };

export async function learningRun(options: LearningRunOptions): Promise<LearningRunResult> {
  const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
  const testSet = await loadFashionMnist({ split: 'test', source: 'sample' });
  const pool = subset(
    trainSet,
    Array.from({ length: options.poolSize }, (_, i) => i),
    'fashion-mnist-sample/train-pool',
  );
  const data = labeledSplit(pool, { perClass: options.labeledPerClass, seed: options.seed });
  const test = subset(
    testSet,
    Array.from({ length: options.testSize }, (_, i) => i),
    'fashion-mnist-sample/test-subset',
  );
  const testImages = tf.tidy(() => tf.div(tf.tensor4d(test.images, [test.size, ...test.shape], 'float32'), 255) as tf.Tensor4D);
  const registry = createRegistry().use(semisup());
  const accuracyOf = (predictions: tf.Tensor1D): number => {
    const predicted = predictions.dataSync();
    predictions.dispose();
    let right = 0;
    predicted.forEach((p, i) => (right += p === test.labels![i] ? 1 : 0));
    return right / test.size;
  };
  const score = async (config: Readonly<Record<string, unknown>>): Promise<{ accuracy: number; student?: number; seconds: number }> => {
    const started = performance.now();
    const result = await train({
      method: registry.create(options.method as never, config as never),
      data,
      encoder: options.encoder ?? LEARNING_ENCODER,
      batchSize: options.batchSize,
      maxSteps: options.steps,
      epochs: options.epochs ?? options.steps,
      seed: options.seed,
      optimizer: options.optimizer,
      schedule: options.schedule,
    });
    try {
      const seconds = (performance.now() - started) / 1000;
      const accuracy = accuracyOf((options.predict ?? predictClasses)(result.runtime, testImages));
      const hasEma = (result.runtime as { semisup?: { ema?: unknown } }).semisup?.ema !== undefined;
      return {
        accuracy,
        student: hasEma ? accuracyOf(predictClasses(result.runtime, testImages, { model: 'student' })) : undefined,
        seconds,
      };
    } finally {
      result.dispose();
    }
  };
  try {
    const method = await score(options.config);
    const supervised = await score(options.supervisedConfig);
    return {
      method: method.accuracy,
      supervised: supervised.accuracy,
      methodStudent: method.student,
      supervisedStudent: supervised.student,
      methodSeconds: method.seconds,
      supervisedSeconds: supervised.seconds,
    };
  } finally {
    testImages.dispose();
  }
}

/**
 * The CI setting every learning test uses: 10 labels per class (100) and 900 unlabeled images from the first
 * 1 000 of the sample, B 16, 300 steps, seed 0, the CNN 8-16-32, scored on the sample's 1 000 test images.
 */
export const CI_LEARNING = { steps: 300, batchSize: 16, seed: 0, labeledPerClass: 10, poolSize: 1000, testSize: 1000 } as const;

/** Generous: a loaded 2-core machine runs a 30-second test several times slower. */
export const LEARNING_TIMEOUT = 240_000;
