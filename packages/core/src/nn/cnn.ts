import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import type { ForwardOptions, ImageShape } from './encoder';
import { forwardKwargs } from './encoder';
import { conv2dLayer } from './conv';
import { InitializerSource } from './layers/initializers';
import { Dropout } from './layers/noise';
import { LayersEncoder, batchNorm, checkImageInput, featureMapModel } from './layers-encoder';
import type { CnnSpec } from './spec';

export const DEFAULT_CNN_CHANNELS = [32, 64, 128];

/** Smallest height and width a CNN of `stages` stages accepts: each stage but the last halves the size. */
export function cnnMinimumSize(stages: number): number {
  return 2 ** (stages - 1);
}

/**
 * Small CNN for small images (default for 28×28): each stage is `convsPerStage` × (conv3×3 [+ BN] +
 * ReLU) [+ dropout], stages after the first start with 2×2 max-pooling, then global average pooling.
 * The input is [height, width, channels] of any size from `cnnMinimumSize` up: nothing before the global
 * pooling depends on the size, so the model is built with unknown height and width and `inputShape` is
 * only the size it is usually given.
 */
export function buildCnnModel(spec: CnnSpec): tfl.LayersModel {
  const channels = spec.channels ?? DEFAULT_CNN_CHANNELS;
  const useBatchNorm = spec.batchNorm ?? true;
  const convsPerStage = spec.convsPerStage ?? 1;
  const dropout = spec.dropout ?? 0;
  const init = new InitializerSource(spec.seed);
  const input = tfl.input({ shape: [null, null, spec.inputShape[2]] });
  let x: tfl.SymbolicTensor = input;
  channels.forEach((filters, stage) => {
    if (stage > 0) x = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }).apply(x) as tfl.SymbolicTensor;
    for (let i = 0; i < convsPerStage; i++) {
      // No conv bias before batch norm: BN's beta makes it redundant.
      x = conv2dLayer({ filters, kernelSize: 3, padding: 'same', useBias: !useBatchNorm, kernelInitializer: init.heNormalFanOut() }).apply(
        x,
      ) as tfl.SymbolicTensor;
      if (useBatchNorm) x = batchNorm().apply(x) as tfl.SymbolicTensor;
      x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
    }
    if (dropout > 0) x = new Dropout({ rate: dropout }).apply(x) as tfl.SymbolicTensor;
  });
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: pooled });
}

export class CnnEncoder extends LayersEncoder<CnnSpec> {
  readonly inputShape: ImageShape;
  readonly featureDim: number;
  private featureMapNetwork: tfl.LayersModel | null = null;

  constructor(spec: CnnSpec, model: tfl.LayersModel = buildCnnModel(spec)) {
    super(spec, model);
    this.inputShape = [...spec.inputShape];
    const channels = spec.channels ?? DEFAULT_CNN_CHANNELS;
    this.featureDim = channels[channels.length - 1];
  }

  /** Accepts [N, H, W, C] for any H, W ≥ cnnMinimumSize(stages). */
  protected override checkInput(inputs: tf.Tensor): void {
    const stages = (this.spec.channels ?? DEFAULT_CNN_CHANNELS).length;
    checkImageInput('cnn encoder', inputs, {
      channels: this.inputShape[2],
      minimumSize: cnnMinimumSize(stages),
      reason: `${stages} stages, each but the last halving the size`,
    });
  }

  /** Last conv stage output [N, h, w, C] before global pooling. */
  featureMap(inputs: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor4D {
    this.checkInput(inputs);
    this.featureMapNetwork ??= featureMapModel(this.model, 'GlobalAveragePooling2D', 'cnn');
    return this.featureMapNetwork.apply(inputs, forwardKwargs(options)) as tf.Tensor4D;
  }
}
