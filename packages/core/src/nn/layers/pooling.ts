import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { invalidConfig } from '../../errors';
import type { BaseLayerArgs, CallKwargs, LayerShape } from './common';
import { singleShape, singleTensor } from './common';

export type TokenPoolingMode = 'first' | 'mean';

export interface TokenPoolingArgs extends BaseLayerArgs {
  /** 'first': the class token (ViT); 'mean': average over tokens. */
  mode: TokenPoolingMode;
  /** With 'mean': leave out token 0 (the class token), as MAE's global pooling does. */
  skipFirst?: boolean;
}

/** Tokens [N, L, D] → one vector per example [N, D]. */
export class TokenPooling extends tfl.layers.Layer {
  static className = 'SslTokenPooling';

  readonly mode: TokenPoolingMode;
  readonly skipFirst: boolean;

  constructor(args: TokenPoolingArgs) {
    super(args);
    if (args.mode !== 'first' && args.mode !== 'mean') invalidConfig('pooling', args.mode, "'first' or 'mean'");
    this.mode = args.mode;
    this.skipFirst = args.skipFirst ?? false;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    const shape = singleShape(inputShape);
    return [shape[0], shape[2]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleTensor(inputs) as tf.Tensor3D;
      const [batch, length, dim] = x.shape;
      if (this.mode === 'first') return tf.reshape(tf.slice(x, [0, 0, 0], [batch, 1, dim]), [batch, dim]);
      const pooled = this.skipFirst ? tf.slice(x, [0, 1, 0], [batch, length - 1, dim]) : x;
      return tf.mean(pooled, 1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mode: this.mode, skipFirst: this.skipFirst };
  }
}
tf.serialization.registerClass(TokenPooling);

export type SequencePoolingMode = 'last' | 'mean';

export interface SequencePoolingArgs extends BaseLayerArgs {
  /** 'last': the last non-padding token (the EOS token, as CLIP's text encoder); 'mean': mean over non-padding tokens. */
  mode: SequencePoolingMode;
  /** Token id used for padding. */
  padId?: number;
}

/**
 * Pools token outputs [N, L, D] using the token ids [N, L] to find padding: inputs are
 * `[hidden, ids]`. With 'last' it picks the last non-padding position (CLIP, Radford et al. 2021,
 * sec. 2.4: "the activations of the highest layer at the [EOS] token").
 */
export class SequencePooling extends tfl.layers.Layer {
  static className = 'SslSequencePooling';

  readonly mode: SequencePoolingMode;
  readonly padId: number;

  constructor(args: SequencePoolingArgs) {
    super(args);
    if (args.mode !== 'last' && args.mode !== 'mean') invalidConfig('pooling', args.mode, "'last' or 'mean'");
    this.mode = args.mode;
    this.padId = args.padId ?? 0;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    const hidden = (inputShape as LayerShape[])[0];
    return [hidden[0], hidden[2]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const [hidden, ids] = inputs as tf.Tensor[];
      const length = hidden.shape[1] as number;
      const present = tf.cast(tf.notEqual(ids, this.padId), 'float32'); // [N, L]
      let weights: tf.Tensor;
      if (this.mode === 'mean') {
        weights = tf.div(present, tf.maximum(tf.sum(present, 1, true), 1));
      } else {
        // Position of the last non-padding token; an all-padding row falls back to position 0.
        const positions = tf.range(0, length, 1, 'float32');
        const lastIndex = tf.max(tf.mul(present, positions), 1, true); // [N, 1]
        // A comparison rather than tf.oneHot: wasm's OneHot returns zeros for dtype float32 (tfjs 4.22).
        weights = tf.cast(tf.equal(positions, lastIndex), 'float32');
      }
      return tf.sum(tf.mul(hidden, tf.expandDims(weights, 2)), 1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mode: this.mode, padId: this.padId };
  }
}
tf.serialization.registerClass(SequencePooling);
