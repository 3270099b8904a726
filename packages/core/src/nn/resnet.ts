import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import type { ForwardOptions, ImageShape } from './encoder';
import { conv2dLayer } from './conv';
import { InitializerSource } from './layers/initializers';
import { LayersEncoder, batchNorm, checkInputShape, featureMapModel } from './layers-encoder';
import type { ResNetDepth, ResNetSpec } from './spec';

type Symbolic = tfl.SymbolicTensor;

/** Blocks per stage and block type (He et al. 2016, table 1). */
const ARCHITECTURES: Record<ResNetDepth, { blocks: number[]; bottleneck: boolean }> = {
  resnet18: { blocks: [2, 2, 2, 2], bottleneck: false },
  resnet34: { blocks: [3, 4, 6, 3], bottleneck: false },
  resnet50: { blocks: [3, 4, 6, 3], bottleneck: true },
};
const STAGE_WIDTHS = [64, 128, 256, 512];
/** Bottleneck blocks widen their output 4× (He et al. 2016, fig. 5). */
const BOTTLENECK_EXPANSION = 4;

/** The stem that `spec` resolves to: CIFAR-style for inputs of at most 64 px. */
export function resolveResNetStem(spec: ResNetSpec): 'cifar' | 'imagenet' {
  return spec.stem ?? (Math.max(spec.inputShape[0], spec.inputShape[1]) <= 64 ? 'cifar' : 'imagenet');
}

export function resnetFeatureDim(spec: ResNetSpec): number {
  const width = Math.max(1, Math.round(STAGE_WIDTHS[3] * (spec.widthMultiplier ?? 1)));
  return ARCHITECTURES[spec.kind].bottleneck ? width * BOTTLENECK_EXPANSION : width;
}

/**
 * ResNet v1.5 (He et al. 2016; torchvision's variant: the stride of a bottleneck sits on its 3×3 conv).
 * CIFAR stem: conv3×3/1 + BN + ReLU and no max-pool (He et al. 2016 sec. 4.2; the usual SSL setup for
 * 32 px images). ImageNet stem: conv7×7/2 + BN + ReLU + max-pool 3×3/2. Projection shortcuts
 * (1×1 conv + BN) where the shape changes. Convs have no bias (BN follows every conv).
 */
export function buildResNetModel(spec: ResNetSpec): tfl.LayersModel {
  const { blocks, bottleneck } = ARCHITECTURES[spec.kind];
  const widthMultiplier = spec.widthMultiplier ?? 1;
  const init = new InitializerSource(spec.seed);
  const conv = (x: Symbolic, filters: number, kernelSize: number, strides: number): Symbolic =>
    conv2dLayer({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init.heNormalFanOut() }).apply(x) as Symbolic;
  const bn = (x: Symbolic): Symbolic => batchNorm().apply(x) as Symbolic;
  const relu = (x: Symbolic): Symbolic => tfl.layers.reLU().apply(x) as Symbolic;
  const channelsOf = (x: Symbolic): number => x.shape[x.shape.length - 1] as number;

  const shortcut = (x: Symbolic, filters: number, strides: number): Symbolic =>
    strides !== 1 || channelsOf(x) !== filters ? bn(conv(x, filters, 1, strides)) : x;

  const basicBlock = (x: Symbolic, width: number, strides: number): Symbolic => {
    let out = relu(bn(conv(x, width, 3, strides)));
    out = bn(conv(out, width, 3, 1));
    return relu(tfl.layers.add().apply([out, shortcut(x, width, strides)]) as Symbolic);
  };

  const bottleneckBlock = (x: Symbolic, width: number, strides: number): Symbolic => {
    const outputWidth = width * BOTTLENECK_EXPANSION;
    let out = relu(bn(conv(x, width, 1, 1)));
    out = relu(bn(conv(out, width, 3, strides)));
    out = bn(conv(out, outputWidth, 1, 1));
    return relu(tfl.layers.add().apply([out, shortcut(x, outputWidth, strides)]) as Symbolic);
  };

  const input = tfl.input({ shape: [...spec.inputShape] });
  const stemWidth = Math.max(1, Math.round(64 * widthMultiplier));
  let x: Symbolic;
  if (resolveResNetStem(spec) === 'cifar') {
    x = relu(bn(conv(input, stemWidth, 3, 1)));
  } else {
    x = relu(bn(conv(input, stemWidth, 7, 2)));
    x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x) as Symbolic;
  }
  blocks.forEach((count, stage) => {
    const width = Math.max(1, Math.round(STAGE_WIDTHS[stage] * widthMultiplier));
    for (let i = 0; i < count; i++) {
      const strides = stage > 0 && i === 0 ? 2 : 1;
      x = bottleneck ? bottleneckBlock(x, width, strides) : basicBlock(x, width, strides);
    }
  });
  const pooled = tfl.layers.globalAveragePooling2d({}).apply(x) as Symbolic;
  return tfl.model({ inputs: input, outputs: pooled });
}

export class ResNetEncoder extends LayersEncoder<ResNetSpec> {
  readonly inputShape: ImageShape;
  readonly featureDim: number;
  private featureMapNetwork: tfl.LayersModel | null = null;

  constructor(spec: ResNetSpec, model: tfl.LayersModel = buildResNetModel(spec)) {
    super(spec, model);
    this.inputShape = [...spec.inputShape];
    this.featureDim = resnetFeatureDim(spec);
  }

  /** Output of the last stage [N, h, w, C] before global average pooling. */
  featureMap(inputs: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor4D {
    checkInputShape(`${this.kind} encoder`, inputs, this.inputShape);
    this.featureMapNetwork ??= featureMapModel(this.model, 'GlobalAveragePooling2D', this.kind);
    return this.featureMapNetwork.apply(inputs, { training: options.training ?? false }) as tf.Tensor4D;
  }
}
