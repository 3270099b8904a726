import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import type { ForwardOptions, ImageShape } from './encoder';
import { conv2dLayer } from './conv';
import { InitializerSource } from './layers/initializers';
import { LayersEncoder, batchNorm, checkInputShape, featureMapModel } from './layers-encoder';
import type { CnnSpec } from './spec';

export const DEFAULT_CNN_CHANNELS = [32, 64, 128];

/**
 * Small CNN for small images (default for 28×28): each stage is `convsPerStage` × (conv3×3 [+ BN] +
 * ReLU), stages after the first start with 2×2 max-pooling, then global average pooling.
 */
export function buildCnnModel(spec: CnnSpec): tfl.LayersModel {
  const channels = spec.channels ?? DEFAULT_CNN_CHANNELS;
  const useBatchNorm = spec.batchNorm ?? true;
  const convsPerStage = spec.convsPerStage ?? 1;
  const init = new InitializerSource(spec.seed);
  const input = tfl.input({ shape: [...spec.inputShape] });
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

  /** Last conv stage output [N, h, w, C] before global pooling. */
  featureMap(inputs: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor4D {
    checkInputShape('cnn encoder', inputs, this.inputShape);
    this.featureMapNetwork ??= featureMapModel(this.model, 'GlobalAveragePooling2D', 'cnn');
    return this.featureMapNetwork.apply(inputs, { training: options.training ?? false }) as tf.Tensor4D;
  }
}
