import type * as tf from '@tensorflow/tfjs-core';
import { createEncoder, loadFashionMnist, train } from '@ssl/core';
import type { CnnSpec, ImageDataset, MethodHandle, OptimizerSpec } from '@ssl/core';
import { extractFeatures, knnClassify } from '@ssl/eval';

/*
 * The CI learning check of this package's methods: train on the committed 3000-image Fashion-MNIST sample,
 * then weighted kNN (k = 200, sample train → sample test) of the trained encoder against the same encoder
 * spec and seed at random init. Test-only; not exported.
 */

export const LEARNING_ENCODER: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], seed: 1234 };

let sample: Promise<{ trainSet: ImageDataset; testSet: ImageDataset }> | undefined;

async function knnTop1(encoder: { features(x: tf.Tensor4D): tf.Tensor2D }, trainSet: ImageDataset, testSet: ImageDataset): Promise<number> {
  const trainFeatures = await extractFeatures(encoder as never, trainSet);
  const testFeatures = await extractFeatures(encoder as never, testSet);
  return (await knnClassify(trainFeatures, testFeatures, { k: 200 })).top1;
}

export interface LearningRun {
  readonly randomInit: number;
  readonly trained: number;
  readonly seconds: number;
  readonly lastLoss: number;
}

/** Trains `method` on the sample; kNN top-1 of the trained encoder and of the same spec at random init. */
export async function learningRun(options: {
  readonly method: MethodHandle;
  readonly epochs: number;
  readonly batchSize: number;
  readonly optimizer?: Partial<OptimizerSpec>;
  readonly seed?: number;
}): Promise<LearningRun> {
  sample ??= (async () => ({
    trainSet: await loadFashionMnist({ split: 'train', source: 'sample' }),
    testSet: await loadFashionMnist({ split: 'test', source: 'sample' }),
  }))();
  const { trainSet, testSet } = await sample;
  const randomEncoder = createEncoder(LEARNING_ENCODER);
  const randomInit = await knnTop1(randomEncoder, trainSet, testSet);
  randomEncoder.model.dispose();
  const started = performance.now();
  const result = await train({
    method: options.method,
    data: trainSet,
    encoder: LEARNING_ENCODER,
    epochs: options.epochs,
    batchSize: options.batchSize,
    seed: options.seed ?? 0,
    ...(options.optimizer ? { optimizer: options.optimizer } : {}),
  });
  const seconds = (performance.now() - started) / 1000;
  try {
    return {
      randomInit,
      trained: await knnTop1(result.encoder, trainSet, testSet),
      seconds,
      lastLoss: result.history.at(-1)?.loss ?? Number.NaN,
    };
  } finally {
    result.dispose();
  }
}

export function describeLearningRun(name: string, run: LearningRun): string {
  return `${name} learning test: kNN random init ${run.randomInit.toFixed(3)} → trained ${run.trained.toFixed(3)} (${(100 * (run.trained - run.randomInit)).toFixed(1)} points) in ${run.seconds.toFixed(1)} s of training; last loss ${run.lastLoss.toFixed(4)}`;
}
