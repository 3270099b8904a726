import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { invalidConfig } from '../../errors';
import type { BaseLayerArgs, CallKwargs, LayerShape } from './common';
import { singleShape, singleTensor } from './common';

function positiveInteger(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) invalidConfig(field, value, 'a positive integer');
}

export interface L2NormalizationArgs extends BaseLayerArgs {
  /** Lower bound on the norm (PyTorch F.normalize's eps). */
  epsilon?: number;
}

/** x / max(‖x‖₂, ε) over the last axis. */
export class L2Normalization extends tfl.layers.Layer {
  static className = 'SslL2Normalization';

  readonly epsilon: number;

  constructor(args: L2NormalizationArgs = {}) {
    super(args);
    this.epsilon = args.epsilon ?? 1e-12;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => l2NormalizeLastAxis(singleTensor(inputs), this.epsilon));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}
tf.serialization.registerClass(L2Normalization);

export function l2NormalizeLastAxis(x: tf.Tensor, epsilon = 1e-12): tf.Tensor {
  return tf.tidy(() => {
    // sqrt(sum x² + tiny) keeps the gradient finite at x = 0, unlike tf.norm.
    const norm = tf.sqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-30));
    return tf.div(x, tf.maximum(norm, epsilon));
  });
}

export interface WeightNormDenseArgs extends BaseLayerArgs {
  units: number;
  /** Keep the magnitude g fixed at 1 (DINO's norm_last_layer: "we freeze g = 1"). */
  fixedMagnitude?: boolean;
  seed?: number;
}

/**
 * Linear layer without bias whose kernel is weight-normalized (Salimans & Kingma 2016, eq. 2):
 * w_j = g_j · v_j / ‖v_j‖ for each output unit j, as DINO's last layer (Caron et al. 2021, sec. 3.1
 * and appendix; PyTorch weight_norm with dim = 0). Weights: `direction` v [in, units], `magnitude` g [units].
 */
export class WeightNormDense extends tfl.layers.Layer {
  static className = 'SslWeightNormDense';

  readonly units: number;
  readonly fixedMagnitude: boolean;
  private readonly seed: number | undefined;
  private direction!: tfl.LayerVariable;
  private magnitude!: tfl.LayerVariable;

  constructor(args: WeightNormDenseArgs) {
    super(args);
    positiveInteger('outputDim', args.units);
    this.units = args.units;
    this.fixedMagnitude = args.fixedMagnitude ?? true;
    this.seed = args.seed;
  }

  override build(inputShape: LayerShape | LayerShape[]): void {
    const shape = singleShape(inputShape);
    const inputDim = shape[shape.length - 1];
    if (inputDim === null) invalidConfig(`${this.name} input shape`, shape, 'a known last dimension');
    this.direction = this.addWeight(
      'direction',
      [inputDim, this.units],
      'float32',
      tfl.initializers.truncatedNormal({ stddev: 0.02, seed: this.seed }),
    );
    // DINO fills weight_g with 1.
    this.magnitude = this.addWeight('magnitude', [this.units], 'float32', tfl.initializers.ones(), undefined, !this.fixedMagnitude);
    this.built = true;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    const shape = singleShape(inputShape);
    return [...shape.slice(0, -1), this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => tf.matMul(singleTensor(inputs) as tf.Tensor2D, this.kernel()));
  }

  /** The effective kernel g · v / ‖v‖ [in, units]; each column has norm g_j. */
  kernel(): tf.Tensor2D {
    return tf.tidy(() => {
      const v = this.direction.read();
      const columnNorm = tf.sqrt(tf.sum(tf.square(v), 0, true));
      return tf.mul(tf.div(v, columnNorm), this.magnitude.read()) as tf.Tensor2D;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, fixedMagnitude: this.fixedMagnitude };
  }
}
tf.serialization.registerClass(WeightNormDense);

export interface PrototypeLayerArgs extends BaseLayerArgs {
  inputDim: number;
  numPrototypes: number;
  seed?: number;
}

/**
 * SwAV prototypes (Caron et al. 2020, sec. 3.1): a linear map without bias whose K columns are the
 * prototype vectors c_k; scores are zᵀc_k. SwAV re-normalizes the prototypes to the unit sphere
 * before each step — call `normalizePrototypes()`.
 */
export class PrototypeLayer extends tfl.layers.Layer {
  static className = 'SslPrototypeLayer';

  readonly inputDim: number;
  readonly numPrototypes: number;
  private readonly seed: number | undefined;
  private prototypeKernel!: tfl.LayerVariable;

  constructor(args: PrototypeLayerArgs) {
    super({ inputShape: [args.inputDim], ...args });
    positiveInteger('inputDim', args.inputDim);
    positiveInteger('numPrototypes', args.numPrototypes);
    this.inputDim = args.inputDim;
    this.numPrototypes = args.numPrototypes;
    this.seed = args.seed;
  }

  override build(_inputShape: LayerShape | LayerShape[]): void {
    this.prototypeKernel = this.addWeight(
      'prototypes',
      [this.inputDim, this.numPrototypes],
      'float32',
      tfl.initializers.glorotUniform({ seed: this.seed }),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    return [singleShape(inputShape)[0], this.numPrototypes];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => tf.matMul(singleTensor(inputs) as tf.Tensor2D, this.prototypeKernel.read()));
  }

  /** L2-normalizes every prototype vector in place (SwAV, Algorithm 1: "normalize prototypes"). */
  normalizePrototypes(): void {
    this.ensureBuilt();
    tf.tidy(() => {
      const kernel = this.prototypeKernel.read();
      const norm = tf.sqrt(tf.sum(tf.square(kernel), 0, true));
      this.prototypeKernel.write(tf.div(kernel, tf.maximum(norm, 1e-12)));
    });
  }

  /** The prototypes as rows [numPrototypes, inputDim] (a new tensor). */
  prototypes(): tf.Tensor2D {
    this.ensureBuilt();
    return tf.tidy(() => tf.transpose(this.prototypeKernel.read()) as tf.Tensor2D);
  }

  /** Builds the weights (inside the layer's name scope, via a symbolic call) if nothing has yet. */
  ensureBuilt(): void {
    if (!this.built) this.apply(tfl.input({ shape: [this.inputDim] }));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), inputDim: this.inputDim, numPrototypes: this.numPrototypes };
  }
}
tf.serialization.registerClass(PrototypeLayer);
