import * as tfl from '@tensorflow/tfjs-layers';

import { invalidConfig } from '../errors';
import { fastBatchNormalization } from './batch-norm';
import { L2Normalization, PrototypeLayer, WeightNormDense } from './layers/head-layers';
import { InitializerSource } from './layers/initializers';
import { Dropout, validateNoiseRate } from './layers/noise';
import { BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM, batchNorm } from './layers-encoder';

type Symbolic = tfl.SymbolicTensor;

function positiveInteger(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) invalidConfig(field, value, 'a positive integer');
}

/** Applies dropout at `rate` (training only); no layer at all at rate 0, so default heads keep their topology. */
function maybeDropout(x: Symbolic, rate: number): Symbolic {
  return rate > 0 ? (new Dropout({ rate }).apply(x) as Symbolic) : x;
}

export interface ProjectionHeadConfig {
  inputDim: number;
  hiddenDim: number;
  outputDim: number;
  /** Linear layers; default 2. */
  layers?: 2 | 3;
  /** Batch norm after each hidden linear layer; default false (SimCLR); true for SimCLRv2/BYOL/SimSiam. */
  batchNorm?: boolean;
  /** Batch norm after the output layer (SimCLRv2, SimSiam); default false. */
  lastBatchNorm?: boolean;
  /** Learn γ/β of the last batch norm; default false (SimSiam's BatchNorm1d(affine=False)). */
  lastBatchNormAffine?: boolean;
  /** Dropout after each hidden layer's ReLU (training only); default 0. */
  dropout?: number;
  seed?: number;
}

/**
 * Projection MLP g(·) mapping representations to the space where the loss is applied:
 * SimCLR (Chen et al. 2020a, sec. 2.1): Linear → ReLU → Linear;
 * SimCLRv2 (Chen et al. 2020b): 3 layers with BN (and BN on the output);
 * BYOL (Grill et al. 2020, sec. 3.3): Linear → BN → ReLU → Linear (`batchNorm: true`).
 */
export function projectionHead(config: ProjectionHeadConfig): tfl.LayersModel {
  positiveInteger('inputDim', config.inputDim);
  positiveInteger('hiddenDim', config.hiddenDim);
  positiveInteger('outputDim', config.outputDim);
  const layers = config.layers ?? 2;
  if (layers !== 2 && layers !== 3) invalidConfig('layers', layers, '2 or 3');
  const useBatchNorm = config.batchNorm ?? false;
  const lastBatchNorm = config.lastBatchNorm ?? false;
  const dropout = config.dropout ?? 0;
  validateNoiseRate('dropout', dropout);
  const init = new InitializerSource(config.seed);
  const input = tfl.input({ shape: [config.inputDim] });
  let x: Symbolic = input;
  for (let i = 0; i < layers - 1; i++) {
    x = tfl.layers.dense({ units: config.hiddenDim, useBias: !useBatchNorm, kernelInitializer: init.glorotUniform() }).apply(x) as Symbolic;
    if (useBatchNorm) x = batchNorm().apply(x) as Symbolic;
    x = maybeDropout(tfl.layers.reLU().apply(x) as Symbolic, dropout);
  }
  x = tfl.layers.dense({ units: config.outputDim, useBias: !lastBatchNorm, kernelInitializer: init.glorotUniform() }).apply(x) as Symbolic;
  if (lastBatchNorm) {
    const affine = config.lastBatchNormAffine ?? false;
    // The fast layer runs the stock code without γ/β; it is used so that `freezeBatchNorm` reaches this one too.
    x = fastBatchNormalization({ momentum: BATCH_NORM_MOMENTUM, epsilon: BATCH_NORM_EPSILON, center: affine, scale: affine }).apply(
      x,
    ) as Symbolic;
  }
  return tfl.model({ inputs: input, outputs: x });
}

export interface PredictionHeadConfig {
  inputDim: number;
  hiddenDim: number;
  outputDim: number;
  /** Dropout after the hidden ReLU (training only); default 0. */
  dropout?: number;
  seed?: number;
}

/** Predictor q(·) of BYOL (Grill et al. 2020, sec. 3.3) and SimSiam (Chen & He 2021, sec. 4.1): Linear → BN → ReLU → Linear. */
export function predictionHead(config: PredictionHeadConfig): tfl.LayersModel {
  return projectionHead({ ...config, layers: 2, batchNorm: true, lastBatchNorm: false });
}

export interface DinoHeadConfig {
  inputDim: number;
  /** Default 2048. */
  hiddenDim?: number;
  /** Default 256. */
  bottleneckDim?: number;
  /** Number of prototypes K (65536 in DINO). */
  outputDim: number;
  /** Linear layers before the bottleneck's L2 norm, including the bottleneck projection; default 3. */
  layers?: number;
  /** Batch norm in the MLP; default false (DINO with ViT). */
  batchNorm?: boolean;
  /** Freeze the weight-norm magnitude at 1; default true (DINO's norm_last_layer). */
  normLastLayer?: boolean;
  seed?: number;
}

/**
 * DINO projection head (Caron et al. 2021, sec. 3.1 and appendix): an MLP (hidden layers with GELU) to
 * a bottleneck, L2 normalization, then a weight-normalized linear layer without bias to K outputs.
 */
export function dinoHead(config: DinoHeadConfig): tfl.LayersModel {
  positiveInteger('inputDim', config.inputDim);
  positiveInteger('outputDim', config.outputDim);
  const hiddenDim = config.hiddenDim ?? 2048;
  const bottleneckDim = config.bottleneckDim ?? 256;
  const layers = config.layers ?? 3;
  positiveInteger('hiddenDim', hiddenDim);
  positiveInteger('bottleneckDim', bottleneckDim);
  positiveInteger('layers', layers);
  const init = new InitializerSource(config.seed);
  const input = tfl.input({ shape: [config.inputDim] });
  let x: Symbolic = input;
  // DINO: trunc_normal(std 0.02) weights, zero biases.
  for (let i = 0; i < layers - 1; i++) {
    x = tfl.layers.dense({ units: hiddenDim, kernelInitializer: init.truncatedNormal(0.02) }).apply(x) as Symbolic;
    if (config.batchNorm) x = batchNorm().apply(x) as Symbolic;
    x = tfl.layers.activation({ activation: 'gelu' }).apply(x) as Symbolic;
  }
  x = tfl.layers.dense({ units: bottleneckDim, kernelInitializer: init.truncatedNormal(0.02) }).apply(x) as Symbolic;
  x = new L2Normalization().apply(x) as Symbolic;
  x = new WeightNormDense({ units: config.outputDim, fixedMagnitude: config.normLastLayer ?? true, seed: init.layerSeed() }).apply(
    x,
  ) as Symbolic;
  return tfl.model({ inputs: input, outputs: x });
}

/** The weight-normalized last layer of a DINO head built by `dinoHead`. */
export function dinoHeadLastLayer(head: tfl.LayersModel): WeightNormDense {
  const found = head.layers.find((layer): layer is WeightNormDense => layer instanceof WeightNormDense);
  if (found === undefined) invalidConfig('head', head.name, 'a model built by dinoHead (with a WeightNormDense layer)');
  return found;
}

export interface PrototypeLayerConfig {
  inputDim: number;
  numPrototypes: number;
  seed?: number;
}

/**
 * SwAV prototypes (Caron et al. 2020): a built `PrototypeLayer`; call `normalizePrototypes()` before each
 * step, and put it in a model with `tf.sequential({ layers: [layer] })` (tfjs-layers) to save it.
 */
export function prototypeLayer(config: PrototypeLayerConfig): PrototypeLayer {
  const layer = new PrototypeLayer({ inputDim: config.inputDim, numPrototypes: config.numPrototypes, seed: config.seed });
  layer.ensureBuilt();
  return layer;
}

export interface LinearClassifierConfig {
  inputDim: number;
  numClasses: number;
  /** Dropout on the input features (training only); default 0. */
  dropout?: number;
  seed?: number;
}

/** Linear layer (with bias) to class logits, for linear evaluation and supervised heads. */
export function linearClassifier(config: LinearClassifierConfig): tfl.LayersModel {
  positiveInteger('inputDim', config.inputDim);
  positiveInteger('numClasses', config.numClasses);
  const dropout = config.dropout ?? 0;
  validateNoiseRate('dropout', dropout);
  const init = new InitializerSource(config.seed);
  const input = tfl.input({ shape: [config.inputDim] });
  const logits = tfl.layers
    .dense({ units: config.numClasses, kernelInitializer: init.glorotUniform() })
    .apply(maybeDropout(input, dropout)) as Symbolic;
  return tfl.model({ inputs: input, outputs: logits });
}
