import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';

/**
 * What evaluation needs of a backbone: pooled features in inference mode. Every `Encoder` from
 * `@ssl/core` satisfies it, and so does a plain function object such as a "flatten the pixels" encoder,
 * which is how raw-pixel baselines are measured with the same code as learned representations.
 */
export interface FeatureEncoder {
  features(inputs: Tensor4D | Tensor2D, options?: { training?: boolean }): Tensor2D;
}

/**
 * The structural shape of `ImageDataset` from `@ssl/core` that evaluation reads: NHWC uint8 pixels and
 * integer labels. Declared here by shape so any loader producing it can be evaluated.
 */
export interface LabeledImageDataset {
  /** N*H*W*C pixels in NHWC order, 0..255. */
  readonly images: Uint8Array;
  /** [height, width, channels]. */
  readonly shape: readonly [number, number, number] | readonly number[];
  readonly labels?: Int32Array;
  readonly numClasses?: number;
  readonly classNames?: readonly string[];
  readonly size: number;
  readonly name?: string;
}

/** Features extracted once from a frozen encoder: row-major [count, dim] plus one label per row. */
export interface FeatureSet {
  readonly features: Float32Array;
  readonly dim: number;
  readonly labels: Int32Array;
}

/** Top-1 and (when there are more than 5 classes) top-5 accuracy, as fractions in [0, 1]. */
export interface Accuracy {
  top1: number;
  top5?: number;
}
