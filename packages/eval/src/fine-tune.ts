import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { Random, SslError, variableGrads } from '@ssl/core';
import { topKAccuracy } from './knn';
import type { Accuracy, FeatureEncoder, LabeledImageDataset } from './types';

/** An encoder whose tfjs-layers model can be trained: every `Encoder` from `@ssl/core`. */
export interface TrainableEncoder extends FeatureEncoder {
  readonly model: LayersModel;
  readonly featureDim: number;
}

export interface FineTuneOptions {
  /** Classes of the new head (default: dataset.numClasses, else 1 + the largest label). */
  numClasses?: number;
  /** A tfjs-layers head mapping features to logits; default: a linear layer created here. */
  head?: LayersModel;
  epochs: number;
  /** Default 64. */
  batchSize?: number;
  /** Learning rate of the backbone (default 1e-4): small, so pretrained features are adjusted rather than overwritten. */
  backboneLr?: number;
  /** Learning rate of the head (default 1e-2). */
  headLr?: number;
  /** 'adam' (default) or 'sgd' (momentum 0.9, the SimCLR/BYOL fine-tuning recipe). */
  optimizer?: 'adam' | 'sgd';
  /**
   * Partial fine-tuning: train only the last N weight-carrying layers of the backbone (counted from the
   * output; a nested model counts as one block). 0 trains the head alone. Default: every layer.
   */
  unfreezeLastN?: number;
  seed?: number;
  /** Called after every epoch with its mean loss and train accuracy. */
  onEpochEnd?(record: FineTuneEpoch): void | Promise<void>;
}

export interface FineTuneEpoch {
  epoch: number;
  loss: number;
  trainAccuracy: number;
}

export interface FineTuneResult {
  history: FineTuneEpoch[];
  /** Names of the backbone layers that were trained. */
  trainedLayers: string[];
  /** Logits [N, numClasses] in inference mode. The caller owns the returned tensor. */
  predict(images: Tensor4D): Tensor2D;
  /** Top-1 (and top-5 for > 5 classes) on a labeled dataset, inference mode. */
  evaluate(dataset: LabeledImageDataset, batchSize?: number): Promise<Accuracy>;
  /** Frees the head created here (a head passed in stays the caller's). */
  dispose(): void;
}

/**
 * End-to-end fine-tuning of a pretrained encoder plus a classification head on labeled images, with
 * separate learning rates for backbone and head (the semi-supervised fine-tuning protocol of SimCLR,
 * Chen et al. 2020, §B.5) and optional partial fine-tuning of the last N layers. Unlike the linear probe
 * this CHANGES the encoder's weights in place; clone the model first to keep the pretrained one.
 *
 * Batch norm runs in training mode. In frozen layers its moving statistics are restored after every step,
 * so a frozen layer leaves fine-tuning bit-identical.
 */
export async function fineTune(encoder: TrainableEncoder, dataset: LabeledImageDataset, options: FineTuneOptions): Promise<FineTuneResult> {
  const labels = dataset.labels;
  if (!labels) throw new SslError('data', `fineTune needs labels, but dataset ${dataset.name ?? ''} has none.`);
  const numClasses = options.numClasses ?? dataset.numClasses ?? labels.reduce((max, label) => Math.max(max, label), -1) + 1;
  const epochs = options.epochs;
  const batchSize = options.batchSize ?? 64;
  const backboneLr = options.backboneLr ?? 1e-4;
  const headLr = options.headLr ?? 1e-2;
  if (!Number.isInteger(epochs) || epochs <= 0) throw new SslError('invalid-config', `fineTune epochs must be a positive integer, got ${epochs}.`);
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new SslError('invalid-config', `fineTune batchSize must be a positive integer, got ${batchSize}.`);
  if (!(backboneLr >= 0) || !(headLr > 0)) {
    throw new SslError('invalid-config', `fineTune needs backboneLr >= 0 and headLr > 0, got ${backboneLr} and ${headLr}.`);
  }
  if (numClasses < 2) throw new SslError('data', `fineTune needs at least 2 classes, got ${numClasses}.`);
  const [height, width, channels] = dataset.shape;
  const pixels = height * width * channels;

  const weightedLayers = encoder.model.layers.filter((layer) => layer.weights.length > 0);
  const unfreeze = options.unfreezeLastN ?? weightedLayers.length;
  if (!Number.isInteger(unfreeze) || unfreeze < 0) {
    throw new SslError('invalid-config', `fineTune unfreezeLastN must be an integer >= 0, got ${unfreeze}.`);
  }
  const trainedLayers = weightedLayers.slice(weightedLayers.length - Math.min(unfreeze, weightedLayers.length));
  const frozenLayers = weightedLayers.filter((layer) => !trainedLayers.includes(layer));
  const backboneVariables = backboneLr > 0 ? trainedLayers.flatMap((layer) => layer.trainableWeights.map((w) => w.read() as Variable)) : [];
  // Non-trainable state of frozen layers (batch-norm moving statistics) that a training-mode forward updates.
  const frozenState = frozenLayers.flatMap((layer) => layer.nonTrainableWeights);
  const frozenSnapshot = frozenState.map((w) => tf.clone(w.read()));

  const random = new Random(options.seed ?? 0);
  const ownHead = !options.head;
  // tf.variable keeps its initial tensor alive; creating it in tidy frees that copy.
  const headWeights = ownHead
    ? tf.tidy(() => tf.variable(glorotUniform(encoder.featureDim, numClasses, random), true, `fine_tune_head_w_${random.nextUint32()}`))
    : undefined;
  const headBias = ownHead ? tf.tidy(() => tf.variable(tf.zeros([numClasses]), true, `fine_tune_head_b_${random.nextUint32()}`)) : undefined;
  const headVariables: Variable[] = ownHead
    ? [headWeights as Variable, headBias as Variable]
    : (options.head as LayersModel).trainableWeights.map((w) => w.read() as Variable);
  const applyHead = (features: Tensor2D, training: boolean): Tensor2D =>
    ownHead
      ? tf.add(tf.matMul(features, headWeights as Variable), headBias as Variable)
      : ((options.head as LayersModel).apply(features, { training }) as Tensor2D);

  const makeOptimizer = (lr: number) => (options.optimizer === 'sgd' ? tf.train.momentum(lr, 0.9) : tf.train.adam(lr));
  const backboneOptimizer = makeOptimizer(Math.max(backboneLr, 1e-12));
  const headOptimizer = makeOptimizer(headLr);
  const backboneNames = new Set(backboneVariables.map((v) => v.name));

  const imageBatch = (rows: ArrayLike<number>): Tensor4D => {
    const values = new Float32Array(rows.length * pixels);
    for (let i = 0; i < rows.length; i++) {
      const source = dataset.images.subarray(rows[i] * pixels, (rows[i] + 1) * pixels);
      for (let p = 0; p < pixels; p++) values[i * pixels + p] = source[p] / 255;
    }
    return tf.tensor4d(values, [rows.length, height, width, channels]);
  };

  const history: FineTuneEpoch[] = [];
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = random.permutation(dataset.size);
      let lossSum = 0;
      let correct = 0;
      for (let start = 0; start < dataset.size; start += batchSize) {
        const rows = order.subarray(start, Math.min(start + batchSize, dataset.size));
        const batchLabels = Int32Array.from(rows, (row) => labels[row]);
        const { loss, predicted } = tf.tidy(() => {
          const images = imageBatch(rows);
          const targets = tf.cast(tf.oneHot(tf.tensor1d(batchLabels, 'int32'), numClasses), 'float32');
          let predictions: Tensor | undefined;
          const { value, grads } = variableGrads(() => {
            const logits = applyHead(encoder.features(images, { training: true }), true);
            // variableGrads disposes everything f creates except its result; keep the predictions.
            predictions = tf.keep(tf.argMax(logits, 1));
            return tf.losses.softmaxCrossEntropy(targets, logits) as tf.Scalar;
          }, [...backboneVariables, ...headVariables]);
          const backboneGrads: { name: string; tensor: Tensor }[] = [];
          const headGrads: { name: string; tensor: Tensor }[] = [];
          for (const [name, tensor] of Object.entries(grads)) (backboneNames.has(name) ? backboneGrads : headGrads).push({ name, tensor });
          if (backboneGrads.length > 0) backboneOptimizer.applyGradients(backboneGrads);
          headOptimizer.applyGradients(headGrads);
          return { loss: value, predicted: predictions as Tensor };
        });
        for (let i = 0; i < frozenState.length; i++) frozenState[i].write(frozenSnapshot[i]);
        lossSum += (await loss.data())[0] * rows.length;
        const predictedData = await predicted.data();
        for (let i = 0; i < rows.length; i++) if (predictedData[i] === batchLabels[i]) correct++;
        tf.dispose([loss, predicted]);
      }
      const record = { epoch, loss: lossSum / dataset.size, trainAccuracy: correct / dataset.size };
      history.push(record);
      await options.onEpochEnd?.(record);
    }
  } finally {
    tf.dispose(frozenSnapshot);
    disposeOptimizer(backboneOptimizer);
    disposeOptimizer(headOptimizer);
  }

  const predict = (images: Tensor4D): Tensor2D => tf.tidy(() => applyHead(encoder.features(images, { training: false }), false));
  return {
    history,
    trainedLayers: backboneLr > 0 ? trainedLayers.map((layer) => layer.name) : [],
    predict,
    async evaluate(evalSet: LabeledImageDataset, evalBatchSize = 256): Promise<Accuracy> {
      if (!evalSet.labels) throw new SslError('data', `evaluate needs labels, but dataset ${evalSet.name ?? ''} has none.`);
      const scores = new Float32Array(evalSet.size * numClasses);
      const [h, w, c] = evalSet.shape;
      const size = h * w * c;
      for (let start = 0; start < evalSet.size; start += evalBatchSize) {
        const rows = Math.min(evalBatchSize, evalSet.size - start);
        const source = evalSet.images.subarray(start * size, (start + rows) * size);
        const logits = tf.tidy(() => predict(tf.tensor4d(Float32Array.from(source, (v) => v / 255), [rows, h, w, c])));
        scores.set((await logits.data()) as Float32Array, start * numClasses);
        logits.dispose();
      }
      return topKAccuracy(scores, evalSet.labels.subarray(0, evalSet.size), numClasses);
    },
    dispose() {
      if (ownHead) tf.dispose([headWeights as Variable, headBias as Variable]);
    },
  };
}

/**
 * tfjs 4.22's MomentumOptimizer.dispose() skips SGDOptimizer's learning-rate scalar `c`; free it too so
 * fine-tuning leaves the tensor count flat.
 */
function disposeOptimizer(optimizer: tf.Optimizer): void {
  optimizer.dispose();
  if (optimizer instanceof tf.MomentumOptimizer) {
    const learningRateScalar = (optimizer as unknown as { c?: Tensor }).c;
    if (learningRateScalar && !learningRateScalar.isDisposed) learningRateScalar.dispose();
  }
}

/** Glorot/Xavier uniform init (Glorot & Bengio 2010), drawn from the seeded generator. */
function glorotUniform(fanIn: number, fanOut: number, random: Random): tf.Tensor2D {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return tf.tensor2d(Float32Array.from({ length: fanIn * fanOut }, () => random.uniform(-limit, limit)), [fanIn, fanOut]);
}
