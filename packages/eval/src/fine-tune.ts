import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  CORE_VERSION,
  SslError,
  createRegistry,
  defineMethod,
  definePlugin,
  hardLabelCrossEntropy,
  imageDataset,
  linearClassifier,
  tfl,
  train,
} from '@ssl/core';
import type { Encoder, OptimizerSpec, StepRecord } from '@ssl/core';
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
  /**
   * Layer-wise learning-rate decay (BEiT, Bao et al. 2022 §2.5; ELECTRA, Clark et al. 2020): block l of the
   * backbone, counted 1 … L from the input, trains at backboneLr · layerDecay^(L − l), so the top block gets
   * backboneLr and the stem backboneLr · layerDecay^(L − 1); the head keeps headLr. In (0, 1]; default 1
   * (every backbone layer at backboneLr). See `layerwiseLearningRates` for the blocks.
   */
  layerDecay?: number;
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
  /** The backbone's blocks and the learning rate each trained at (one block at backboneLr without layerDecay). */
  learningRates: LayerBlockRate[];
  /** Logits [N, numClasses] in inference mode. The caller owns the returned tensor. */
  predict(images: Tensor4D): Tensor2D;
  /** Top-1 (and top-5 for > 5 classes) on a labeled dataset, inference mode. */
  evaluate(dataset: LabeledImageDataset, batchSize?: number): Promise<Accuracy>;
  /** Frees the head created here (a head passed in stays the caller's). */
  dispose(): void;
}

interface FineTunePlan {
  readonly numClasses: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly backboneLr: number;
  readonly headLr: number;
  readonly trainedLayers: readonly Layer[];
  readonly frozenLayers: readonly Layer[];
  /** The backbone's blocks with their learning rates, from the input up (one block, at backboneLr, without layerDecay). */
  readonly blocks: readonly LayerBlockRate[];
}

/** One block of a backbone under layer-wise decay: its layers, its depth l (1 = nearest the input) and its rate. */
export interface LayerBlockRate {
  readonly depth: number;
  readonly layers: readonly string[];
  readonly lr: number;
}

type Layer = LayersModel['layers'][number];

/** A normalization layer carries only a scale and a shift: it belongs to the block of the layer before it. */
function isNormalization(layer: Layer): boolean {
  return /normalization/i.test(layer.getClassName());
}

/**
 * The blocks of layer-wise learning-rate decay: the backbone's weight-carrying top-level layers in order, a
 * normalization layer (batch or layer norm) joining the block of the layer before it, so a convolution and
 * its batch norm train at one rate; a nested model is one block. Block l of L trains at
 * backboneLr · layerDecay^(L − l) (BEiT's layer decay: the head is layer L + 1 at the full rate).
 */
export function layerwiseLearningRates(model: LayersModel, options: { backboneLr: number; layerDecay: number }): LayerBlockRate[] {
  const { backboneLr, layerDecay } = options;
  if (!(layerDecay > 0 && layerDecay <= 1)) throw new SslError('invalid-config', `layerDecay must be in (0, 1], got ${layerDecay}.`);
  const groups: Layer[][] = [];
  for (const layer of model.layers.filter((l) => l.weights.length > 0)) {
    if (groups.length > 0 && isNormalization(layer)) groups[groups.length - 1].push(layer);
    else groups.push([layer]);
  }
  const depthCount = groups.length;
  return groups.map((layers, i) => ({
    depth: i + 1,
    layers: layers.map((layer) => layer.name),
    lr: backboneLr * layerDecay ** (depthCount - (i + 1)),
  }));
}

function planFineTune(encoder: TrainableEncoder, dataset: LabeledImageDataset, options: FineTuneOptions): FineTunePlan {
  const labels = dataset.labels;
  if (!labels) throw new SslError('data', `fineTune needs labels, but dataset ${dataset.name ?? ''} has none.`);
  const numClasses = options.numClasses ?? dataset.numClasses ?? labels.reduce((max, label) => Math.max(max, label), -1) + 1;
  const { epochs } = options;
  const batchSize = options.batchSize ?? 64;
  const backboneLr = options.backboneLr ?? 1e-4;
  const headLr = options.headLr ?? 1e-2;
  if (!Number.isInteger(epochs) || epochs <= 0)
    throw new SslError('invalid-config', `fineTune epochs must be a positive integer, got ${epochs}.`);
  if (!Number.isInteger(batchSize) || batchSize <= 0)
    throw new SslError('invalid-config', `fineTune batchSize must be a positive integer, got ${batchSize}.`);
  if (!(backboneLr >= 0) || !(headLr > 0)) {
    throw new SslError('invalid-config', `fineTune needs backboneLr >= 0 and headLr > 0, got ${backboneLr} and ${headLr}.`);
  }
  if (numClasses < 2) throw new SslError('data', `fineTune needs at least 2 classes, got ${numClasses}.`);
  const weightedLayers = encoder.model.layers.filter((layer) => layer.weights.length > 0);
  const unfreeze = options.unfreezeLastN ?? weightedLayers.length;
  if (!Number.isInteger(unfreeze) || unfreeze < 0)
    throw new SslError('invalid-config', `fineTune unfreezeLastN must be an integer >= 0, got ${unfreeze}.`);
  const trainedLayers = backboneLr > 0 ? weightedLayers.slice(weightedLayers.length - Math.min(unfreeze, weightedLayers.length)) : [];
  const frozenLayers = weightedLayers.filter((layer) => !trainedLayers.includes(layer));
  const blocks =
    options.layerDecay === undefined
      ? [{ depth: 1, layers: weightedLayers.map((layer) => layer.name), lr: backboneLr }]
      : layerwiseLearningRates(encoder.model, { backboneLr, layerDecay: options.layerDecay });
  return { numClasses, epochs, batchSize, backboneLr, headLr, trainedLayers, frozenLayers, blocks };
}

/**
 * Fine-tuning as a method on core's trainer: cross-entropy of the head's logits, the backbone at
 * backboneLr / headLr of the head's rate, and frozen layers' batch-norm statistics put back after every
 * step (a training-mode forward moves them), so a frozen layer leaves fine-tuning bit-identical.
 */
/**
 * The backbone as the trainer's networks, one per block with its rate relative to the head's. Network l is
 * the backbone from its input to the end of block l (a sub-model over the same layers: no new graph nodes),
 * listed from the input up: a weight in several networks takes the first one's scale, i.e. its own block's.
 */
function backboneNetworks(
  model: LayersModel,
  plan: FineTunePlan,
): { networks: Record<string, LayersModel>; scales: Record<string, number> } {
  if (plan.blocks.length === 1) return { networks: { backbone: model }, scales: { backbone: plan.backboneLr / plan.headLr } };
  const networks: Record<string, LayersModel> = {};
  const scales: Record<string, number> = {};
  plan.blocks.forEach((block, i) => {
    const last = model.getLayer(block.layers[block.layers.length - 1]);
    const name = `backbone_block${block.depth}`;
    networks[name] = i === plan.blocks.length - 1 ? model : tfl.model({ inputs: model.inputs, outputs: last.output as tfl.SymbolicTensor });
    scales[name] = block.lr / plan.headLr;
  });
  return { networks, scales };
}

function fineTuneMethod(encoder: TrainableEncoder, head: LayersModel, plan: FineTunePlan, shape: readonly number[]) {
  const frozenState = plan.frozenLayers.flatMap((layer) => layer.nonTrainableWeights);
  const frozenSnapshot = frozenState.map((w) => tf.clone(w.read()));
  const backbone: Encoder = {
    kind: 'fine-tuned',
    inputShape: shape,
    featureDim: encoder.featureDim,
    model: encoder.model,
    features: (x, o) => encoder.features(x as Tensor4D, o),
  };
  return defineMethod<Record<string, never>, 'labeled'>({
    name: 'fine-tune',
    description: 'Supervised fine-tuning of a pretrained encoder with a classification head.',
    data: 'labeled',
    defaults: {},
    views: () => ({ labeled: 'none', unlabeled: 'none' }),
    build: () => {
      const { networks, scales } = backboneNetworks(encoder.model, plan);
      return {
        encoder: backbone,
        trainable: { ...networks, head },
        learningRateScales: { ...scales, head: 1 },
        step(batch) {
          const logits = head.apply(encoder.features(batch.images, { training: true }), { training: true }) as Tensor2D;
          const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), batch.labels), 'float32')) as Scalar;
          return { loss: hardLabelCrossEntropy(logits, batch.labels), metrics: { correct, rows: tf.scalar(batch.labels.shape[0]) } };
        },
        afterStep() {
          for (let i = 0; i < frozenState.length; i++) frozenState[i].write(frozenSnapshot[i]);
        },
        dispose: () => tf.dispose(frozenSnapshot),
      };
    },
  });
}

/** Layers not being trained are marked untrainable for the run (the Keras way), and restored after it. */
async function withFrozenLayers<T>(layers: readonly Layer[], run: () => Promise<T>): Promise<T> {
  const before = layers.map((layer) => layer.trainable);
  for (const layer of layers) layer.trainable = false;
  try {
    return await run();
  } finally {
    layers.forEach((layer, i) => (layer.trainable = before[i]));
  }
}

/** Per-epoch mean loss and training accuracy, from the steps' loss and correct/rows metrics. */
function epochHistory(history: readonly StepRecord[]): FineTuneEpoch[] {
  const epochs: FineTuneEpoch[] = [];
  for (const record of history) {
    const rows = record.metrics.rows;
    const sums = (epochs[record.epoch] ??= { epoch: record.epoch, loss: 0, trainAccuracy: 0 });
    sums.loss += record.loss * rows;
    sums.trainAccuracy += record.metrics.correct;
  }
  return epochs;
}

/**
 * End-to-end fine-tuning of a pretrained encoder plus a classification head on labeled images, with
 * separate learning rates for backbone and head (the semi-supervised fine-tuning protocol of SimCLR,
 * Chen et al. 2020, §B.5) and optional partial fine-tuning of the last N layers. Unlike the linear probe
 * this CHANGES the encoder's weights in place; clone the model first to keep the pretrained one. It runs
 * on core's trainer (seeded order, the same optimizers, the finite-loss guard), as a 'labeled' method.
 */
export async function fineTune(encoder: TrainableEncoder, dataset: LabeledImageDataset, options: FineTuneOptions): Promise<FineTuneResult> {
  const plan = planFineTune(encoder, dataset, options);
  const seed = options.seed ?? 0;
  const head = options.head ?? linearClassifier({ inputDim: encoder.featureDim, numClasses: plan.numClasses, seed });
  const data = imageDataset({
    images: dataset.images,
    shape: [...dataset.shape] as [number, number, number],
    labels: dataset.labels,
    numClasses: plan.numClasses,
    name: dataset.name ?? 'fine-tune',
  });
  const method = createRegistry()
    .use(
      definePlugin({
        name: '@ssl/eval',
        version: CORE_VERSION,
        family: 'eval',
        core: '*',
        methods: { 'fine-tune': fineTuneMethod(encoder, head, plan, data.shape) },
      }),
    )
    .create('eval:fine-tune');
  const optimizer: OptimizerSpec =
    options.optimizer === 'sgd' ? { kind: 'sgd', lr: plan.headLr, momentum: 0.9 } : { kind: 'adam', lr: plan.headLr };
  const run = await withFrozenLayers(plan.frozenLayers, () =>
    train({
      method,
      data,
      epochs: plan.epochs,
      batchSize: plan.batchSize,
      dropLast: false,
      optimizer,
      schedule: { kind: 'constant' },
      seed,
    }),
  );
  run.disposeTrainingState();
  const history = epochHistory(run.history).map((e) => ({
    ...e,
    loss: e.loss / dataset.size,
    trainAccuracy: e.trainAccuracy / dataset.size,
  }));
  for (const record of history) await options.onEpochEnd?.(record);
  return fineTuneResult(encoder, head, plan, history, !options.head);
}

function fineTuneResult(
  encoder: TrainableEncoder,
  head: LayersModel,
  plan: FineTunePlan,
  history: FineTuneEpoch[],
  ownHead: boolean,
): FineTuneResult {
  const predict = (images: Tensor4D): Tensor2D =>
    tf.tidy(() => head.apply(encoder.features(images, { training: false }), { training: false }) as Tensor2D);
  return {
    history,
    trainedLayers: plan.trainedLayers.map((layer) => layer.name),
    learningRates: plan.blocks.map((block) => ({ ...block, layers: [...block.layers] })),
    predict,
    async evaluate(evalSet: LabeledImageDataset, evalBatchSize = 256): Promise<Accuracy> {
      if (!evalSet.labels) throw new SslError('data', `evaluate needs labels, but dataset ${evalSet.name ?? ''} has none.`);
      const scores = new Float32Array(evalSet.size * plan.numClasses);
      const [h, w, c] = evalSet.shape;
      const size = h * w * c;
      for (let start = 0; start < evalSet.size; start += evalBatchSize) {
        const rows = Math.min(evalBatchSize, evalSet.size - start);
        const source = evalSet.images.subarray(start * size, (start + rows) * size);
        const logits = tf.tidy(() =>
          predict(
            tf.tensor4d(
              Float32Array.from(source, (v) => v / 255),
              [rows, h, w, c],
            ),
          ),
        );
        scores.set((await logits.data()) as Float32Array, start * plan.numClasses);
        logits.dispose();
      }
      return topKAccuracy(scores, evalSet.labels.subarray(0, evalSet.size), plan.numClasses);
    },
    dispose() {
      if (ownHead) head.dispose();
    },
  };
}
