import type * as tf from '@tensorflow/tfjs-core';
import { createEncoder, loadFashionMnist, train } from '@ssl/core';
import type { CnnSpec, EncoderSpec, ImageDataset, MethodHandle, OptimizerSpec, StepRecord } from '@ssl/core';
import { extractFeatures, knnClassify } from '@ssl/eval';

/*
 * The CI learning check of the self-supervised methods: train on the committed 3000-image Fashion-MNIST
 * sample, then weighted kNN (k = 200, sample train → sample test) of the trained encoder against the same
 * encoder (same spec and seed) at random init.
 */

export const LEARNING_ENCODER: CnnSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], seed: 1234 };

let sample: Promise<{ trainSet: ImageDataset; testSet: ImageDataset }> | undefined;

function fashionSample(): Promise<{ trainSet: ImageDataset; testSet: ImageDataset }> {
  sample ??= (async () => ({
    trainSet: await loadFashionMnist({ split: 'train', source: 'sample' }),
    testSet: await loadFashionMnist({ split: 'test', source: 'sample' }),
  }))();
  return sample;
}

interface HasFeatures {
  features(x: tf.Tensor4D): tf.Tensor2D;
}

async function knnTop1(encoder: HasFeatures, trainSet: ImageDataset, testSet: ImageDataset): Promise<number> {
  const trainFeatures = await extractFeatures(encoder as never, trainSet);
  const testFeatures = await extractFeatures(encoder as never, testSet);
  return (await knnClassify(trainFeatures, testFeatures, { k: 200 })).top1;
}

export interface LearningRun {
  readonly randomInit: number;
  readonly trained: number;
  /** Means of each step metric over the last five steps. */
  readonly lastMetrics: Record<string, number>;
  readonly history: StepRecord[];
  readonly seconds: number;
}

export interface LearningOptions {
  readonly method: MethodHandle;
  readonly epochs: number;
  readonly batchSize: number;
  /** Any core encoder with a seed (its random init is the control); default LEARNING_ENCODER. A ViT: vitPreset('vit28', { seed }). */
  readonly encoder?: EncoderSpec;
  readonly optimizer?: Partial<OptimizerSpec>;
  readonly gradientClip?: number;
  readonly seed?: number;
}

/** Trains on the sample and measures kNN top-1 of the trained encoder and of its random init. */
export async function learningRun(options: LearningOptions): Promise<LearningRun> {
  const { trainSet, testSet } = await fashionSample();
  const encoder = options.encoder ?? LEARNING_ENCODER;
  // The control is the same spec at random init: without a seed the run would start from another init than it.
  if (encoder.seed === undefined)
    throw new Error(`learningRun: give the ${encoder.kind} encoder spec a seed (its random init is the control).`);
  const randomEncoder = createEncoder(encoder);
  const randomInit = await knnTop1(randomEncoder, trainSet, testSet);
  randomEncoder.model.dispose();
  const started = performance.now();
  const result = await train({
    method: options.method,
    data: trainSet,
    encoder,
    epochs: options.epochs,
    batchSize: options.batchSize,
    seed: options.seed ?? 0,
    ...(options.optimizer ? { optimizer: options.optimizer } : {}),
    ...(options.gradientClip ? { gradientClip: options.gradientClip } : {}),
  });
  const seconds = (performance.now() - started) / 1000;
  try {
    const trained = await knnTop1(result.encoder, trainSet, testSet);
    const last = result.history.slice(-5);
    const lastMetrics: Record<string, number> = {};
    for (const name of Object.keys(last[0]?.metrics ?? {})) lastMetrics[name] = last.reduce((s, r) => s + r.metrics[name], 0) / last.length;
    return { randomInit, trained, lastMetrics, history: result.history, seconds };
  } finally {
    result.dispose();
  }
}

/** One line for the test log: the figures a README row is made of. */
export function describeLearningRun(name: string, run: LearningRun): string {
  const metrics = Object.entries(run.lastMetrics)
    .map(([k, v]) => `${k} ${v.toFixed(3)}`)
    .join(', ');
  const gain = (100 * (run.trained - run.randomInit)).toFixed(1);
  return `${name} learning test: kNN random init ${run.randomInit.toFixed(3)} → trained ${run.trained.toFixed(3)} (${gain} points) in ${run.seconds.toFixed(1)} s of training; last steps: loss ${run.history.at(-1)?.loss.toFixed(4)}, ${metrics}`;
}
