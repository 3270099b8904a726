import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { SslError, formatShape } from '../errors';
import { fastBatchNormalization } from './batch-norm';
import type { Encoder, ForwardOptions } from './encoder';
import { forwardKwargs } from './encoder';
import type { EncoderSpec } from './spec';

/** Batch-norm settings of PyTorch (momentum 0.1 there = 0.9 in tfjs's convention, eps 1e-5), which the reference models use. */
export const BATCH_NORM_MOMENTUM = 0.9;
export const BATCH_NORM_EPSILON = 1e-5;

export function batchNorm(name?: string): tfl.layers.Layer {
  return fastBatchNormalization({ momentum: BATCH_NORM_MOMENTUM, epsilon: BATCH_NORM_EPSILON, name });
}

/** Throws a shape-mismatch error unless `x` is [N, ...expected]. */
export function checkInputShape(owner: string, x: tf.Tensor, expected: readonly number[]): void {
  const matches = x.rank === expected.length + 1 && expected.every((d, i) => x.shape[i + 1] === d);
  if (!matches) {
    throw new SslError(
      'shape-mismatch',
      `${owner}: input of shape ${formatShape(x.shape)} does not match the encoder's input [N, ${expected.join(', ')}]; resize or reshape the batch, or build the encoder with inputShape ${formatShape(x.shape.slice(1))}.`,
      { details: { shape: x.shape, expected } },
    );
  }
}

/** What an image encoder accepts besides its build size: the channel count, and heights and widths from `minimumSize` up (multiples of `multipleOf`). */
export interface ImageInputRule {
  channels: number;
  /** Smallest height and width, in pixels. */
  minimumSize: number;
  /** Heights and widths must be multiples of this (a ViT's patch size); default 1. */
  multipleOf?: number;
  /** Why the minimum is what it is, for the error message. */
  reason: string;
}

/** Throws a shape-mismatch error unless `x` is [N, H, W, channels] with H and W allowed by `rule`. */
export function checkImageInput(owner: string, x: tf.Tensor, rule: ImageInputRule): void {
  const fail = (problem: string): never => {
    throw new SslError('shape-mismatch', `${owner}: input of shape ${formatShape(x.shape)} ${problem}`, {
      details: { shape: x.shape, ...rule },
    });
  };
  if (x.rank !== 4 || x.shape[3] !== rule.channels)
    fail(
      `is not a batch of images [N, height, width, ${rule.channels}]; reshape it or build the encoder for ${x.shape[x.rank - 1]} channels.`,
    );
  const [height, width] = [x.shape[1] as number, x.shape[2] as number];
  if (height < rule.minimumSize || width < rule.minimumSize) {
    fail(`is smaller than the ${rule.minimumSize}×${rule.minimumSize} px this encoder needs (${rule.reason}); resize or pad the images.`);
  }
  const multiple = rule.multipleOf ?? 1;
  if (height % multiple !== 0 || width % multiple !== 0) {
    fail(
      `has a height or width that is not a multiple of ${multiple} (${rule.reason}); resize or crop the images to a multiple of ${multiple}.`,
    );
  }
}

/** The layers of `model` whose tfjs class name is `className`, in topological order. */
export function layersOfClass(model: tfl.LayersModel, className: string): tfl.layers.Layer[] {
  return model.layers.filter((layer) => layer.getClassName() === className);
}

export function requireLayer(model: tfl.LayersModel, className: string, kind: string): tfl.layers.Layer {
  const found = layersOfClass(model, className);
  if (found.length === 0) {
    throw new SslError('io', `The model has no ${className} layer, so it is not a '${kind}' encoder; was it saved by saveEncoder?`);
  }
  return found[0];
}

/** Common part of the encoders: a LayersModel from input to pooled features, plus the spec that built it. */
export abstract class LayersEncoder<Spec extends EncoderSpec> implements Encoder {
  readonly kind: Spec['kind'];
  readonly spec: Spec;
  readonly model: tfl.LayersModel;
  abstract readonly inputShape: readonly number[];
  abstract readonly featureDim: number;

  protected constructor(spec: Spec, model: tfl.LayersModel) {
    this.kind = spec.kind;
    this.spec = spec;
    this.model = model;
  }

  features(inputs: tf.Tensor4D | tf.Tensor2D, options: ForwardOptions = {}): tf.Tensor2D {
    this.checkInput(inputs);
    return this.model.apply(inputs, forwardKwargs(options)) as tf.Tensor2D;
  }

  /** Throws shape-mismatch unless the encoder accepts `inputs`; by default only the build shape. */
  protected checkInput(inputs: tf.Tensor): void {
    checkInputShape(`${this.kind} encoder`, inputs, this.inputShape);
  }

  /** Trainable parameter count (batch-norm moving statistics are not parameters). */
  countTrainableParams(): number {
    return countTrainableParams(this.model);
  }
}

export function countTrainableParams(model: tfl.LayersModel | tfl.layers.Layer): number {
  return model.trainableWeights.reduce((sum, weight) => sum + weight.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

/** Wraps a sub-graph of an image encoder from its input to the layer feeding global pooling. */
export function featureMapModel(model: tfl.LayersModel, poolingClassName: string, kind: string): tfl.LayersModel {
  const pooling = requireLayer(model, poolingClassName, kind);
  return tfl.model({ inputs: model.inputs, outputs: pooling.input as tfl.SymbolicTensor });
}
