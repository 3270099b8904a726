import type { Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** Image shape without the batch dimension: [height, width, channels]. */
export type ImageShape = [number, number, number];

export interface ForwardOptions {
  /** Training mode: batch norm uses batch statistics (and updates its moving averages), dropout is active. */
  training?: boolean;
  /**
   * With `training: true`: batch norm runs as in inference — it normalizes with its moving statistics and
   * does not update them — while dropout and drop path stay active (e.g. fine-tuning a pretrained
   * backbone on small batches). Default false.
   */
  freezeBatchNorm?: boolean;
}

/** The keyword arguments a forward with `options` passes to tfjs-layers' `apply`. */
export function forwardKwargs(options: ForwardOptions): { training: boolean; freezeBatchNorm: boolean } {
  return { training: options.training ?? false, freezeBatchNorm: options.freezeBatchNorm ?? false };
}

/**
 * What every method and every evaluation sees of a backbone. Methods never ask which backbone it is.
 * All networks are tfjs-layers models so they save and load in the standard LayersModel format.
 */
export interface Encoder {
  /** Backbone kind, e.g. 'cnn', 'resnet18', 'vit', 'mlp'. */
  readonly kind: string;
  /** Input shape without batch, e.g. [28, 28, 1] (for the text transformer: [sequenceLength]). */
  readonly inputShape: readonly number[];
  /** Size of the pooled representation returned by `features`. */
  readonly featureDim: number;
  /** The tfjs-layers model whose output is the pooled representation. */
  readonly model: LayersModel;
  /** Pooled representation [N, featureDim]. */
  features(inputs: Tensor4D | Tensor2D, options?: ForwardOptions): Tensor2D;
  /** Token outputs [N, T, D] where the backbone has tokens (ViT, text transformer). */
  tokens?(inputs: Tensor4D | Tensor2D, options?: ForwardOptions): Tensor3D;
  /** Last spatial feature map [N, h, w, C] where the backbone has one (CNN, ResNet). */
  featureMap?(inputs: Tensor4D, options?: ForwardOptions): Tensor4D;
}
