import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import type { ForwardOptions, ImageShape } from './encoder';
import { forwardKwargs } from './encoder';
import { conv2dLayer } from './conv';
import { InitializerSource } from './layers/initializers';
import { DropPath, Dropout, dropPathRates } from './layers/noise';
import { LayersEncoder, batchNorm, checkImageInput, featureMapModel } from './layers-encoder';
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
 * Optional noise: dropout after a block's first conv (wide ResNets) and drop path on each residual branch.
 * 'same' padding never shrinks a side below 1 px and global pooling ends the network, so the model is
 * built with unknown height and width and runs on any image size.
 */
export function buildResNetModel(spec: ResNetSpec): tfl.LayersModel {
  const { blocks, bottleneck } = ARCHITECTURES[spec.kind];
  const widthMultiplier = spec.widthMultiplier ?? 1;
  const dropout = spec.dropout ?? 0;
  const blockDropPath = dropPathRates(
    spec.dropPath ?? 0,
    blocks.reduce((a, b) => a + b, 0),
  );
  const init = new InitializerSource(spec.seed);
  const conv = (x: Symbolic, filters: number, kernelSize: number, strides: number): Symbolic =>
    conv2dLayer({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init.heNormalFanOut() }).apply(
      x,
    ) as Symbolic;
  const bn = (x: Symbolic): Symbolic => batchNorm().apply(x) as Symbolic;
  const relu = (x: Symbolic): Symbolic => tfl.layers.reLU().apply(x) as Symbolic;
  const channelsOf = (x: Symbolic): number => x.shape[x.shape.length - 1] as number;
  // Noise layers exist only at a positive rate, so the default network is unchanged.
  const drop = (x: Symbolic): Symbolic => (dropout > 0 ? (new Dropout({ rate: dropout }).apply(x) as Symbolic) : x);
  const residual = (branch: Symbolic, skip: Symbolic, dropPath: number): Symbolic => {
    const kept = dropPath > 0 ? (new DropPath({ rate: dropPath }).apply(branch) as Symbolic) : branch;
    return relu(tfl.layers.add().apply([kept, skip]) as Symbolic);
  };

  const shortcut = (x: Symbolic, filters: number, strides: number): Symbolic =>
    strides !== 1 || channelsOf(x) !== filters ? bn(conv(x, filters, 1, strides)) : x;

  const basicBlock = (x: Symbolic, width: number, strides: number, dropPath: number): Symbolic => {
    let out = drop(relu(bn(conv(x, width, 3, strides))));
    out = bn(conv(out, width, 3, 1));
    return residual(out, shortcut(x, width, strides), dropPath);
  };

  const bottleneckBlock = (x: Symbolic, width: number, strides: number, dropPath: number): Symbolic => {
    const outputWidth = width * BOTTLENECK_EXPANSION;
    let out = relu(bn(conv(x, width, 1, 1)));
    out = drop(relu(bn(conv(out, width, 3, strides))));
    out = bn(conv(out, outputWidth, 1, 1));
    return residual(out, shortcut(x, outputWidth, strides), dropPath);
  };

  const input = tfl.input({ shape: [null, null, spec.inputShape[2]] });
  const stemWidth = Math.max(1, Math.round(64 * widthMultiplier));
  let x: Symbolic;
  if (resolveResNetStem(spec) === 'cifar') {
    x = relu(bn(conv(input, stemWidth, 3, 1)));
  } else {
    x = relu(bn(conv(input, stemWidth, 7, 2)));
    x = tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x) as Symbolic;
  }
  let blockIndex = 0;
  blocks.forEach((count, stage) => {
    const width = Math.max(1, Math.round(STAGE_WIDTHS[stage] * widthMultiplier));
    for (let i = 0; i < count; i++) {
      const strides = stage > 0 && i === 0 ? 2 : 1;
      const dropPath = blockDropPath[blockIndex++];
      x = bottleneck ? bottleneckBlock(x, width, strides, dropPath) : basicBlock(x, width, strides, dropPath);
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

  /** Accepts [N, H, W, C] of any size: 'same' padding keeps every feature map at least 1 px. */
  protected override checkInput(inputs: tf.Tensor): void {
    checkImageInput(`${this.kind} encoder`, inputs, {
      channels: this.inputShape[2],
      minimumSize: 1,
      reason: 'no stage shrinks a side below 1 px',
    });
  }

  /** Output of the last stage [N, h, w, C] before global average pooling. */
  featureMap(inputs: tf.Tensor4D, options: ForwardOptions = {}): tf.Tensor4D {
    this.checkInput(inputs);
    this.featureMapNetwork ??= featureMapModel(this.model, 'GlobalAveragePooling2D', this.kind);
    return this.featureMapNetwork.apply(inputs, forwardKwargs(options)) as tf.Tensor4D;
  }
}
