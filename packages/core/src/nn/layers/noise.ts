import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { invalidConfig } from '../../errors';
import type { BaseLayerArgs, CallKwargs, LayerShape } from './common';
import { singleShape, singleTensor } from './common';

/*
 * Model noise: dropout (Srivastava et al. 2014) and stochastic depth / drop path (Huang et al. 2016).
 *
 * Both draw their masks from tf.randomUniform with a seed taken from Math.random, so a training step is a
 * pure function of the trainer's seed: the trainer binds Math.random to a seeded stream for each step
 * (train/seeded.ts, withSeededMathRandom). The uniform draw itself runs in tfjs-core's JavaScript
 * (seedrandom's alea), so a seed gives the same mask on every backend.
 */

/** Throws invalid-config unless `rate` is a number in [0, 1). */
export function validateNoiseRate(field: string, rate: unknown): void {
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) invalidConfig(field, rate, 'a number in [0, 1) (the probability of dropping)');
}

/** A uint32 seed for one mask, from Math.random (seeded per step by the trainer). */
function maskSeed(): number {
  return Math.floor(Math.random() * 0x100000000);
}

/**
 * Inverted dropout: zeroes each entry of a mask of `noiseShape` (broadcast over `x`) with probability
 * `rate` and scales the kept ones by 1/(1 − rate), so the expected output equals the input and
 * inference needs no rescaling. Identity at rate 0.
 */
export function dropoutNoise(x: tf.Tensor, rate: number, noiseShape: readonly number[] = x.shape): tf.Tensor {
  if (rate === 0) return x;
  const keep = 1 - rate;
  return tf.tidy(() => {
    // floor(u + keep) is 1 with probability keep, for u uniform in [0, 1).
    const kept = tf.floor(tf.add(tf.randomUniform([...noiseShape], 0, 1, 'float32', maskSeed()), keep));
    return tf.mul(x, tf.div(kept, keep));
  });
}

/**
 * Drop path (stochastic depth, Huang et al. 2016): drops a residual branch `x` for whole examples —
 * one mask value per example, broadcast over the other axes — scaled by 1/keep as timm's drop_path.
 */
export function dropPathNoise(x: tf.Tensor, rate: number): tf.Tensor {
  return dropoutNoise(x, rate, [x.shape[0], ...x.shape.slice(1).map(() => 1)]);
}

/**
 * Stochastic depth's linear decay rule (Huang et al. 2016, eq. 4): block l of L drops with probability
 * l/L · rate, so the first block is almost always kept and the last one drops with `rate`. (timm's
 * linspace(0, rate, L) starts at 0 instead, which leaves a one-block network without noise.)
 */
export function dropPathRates(rate: number, blocks: number): number[] {
  return Array.from({ length: blocks }, (_, i) => (rate * (i + 1)) / blocks);
}

export interface NoiseLayerArgs extends BaseLayerArgs {
  /** Probability of dropping, in [0, 1). */
  rate: number;
}

/** Inverted dropout over every entry; active only when called with `training: true`. */
export class Dropout extends tfl.layers.Layer {
  static className = 'SslDropout';

  readonly rate: number;

  constructor(args: NoiseLayerArgs) {
    super(args);
    validateNoiseRate('dropout', args.rate);
    this.rate = args.rate;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    const x = singleTensor(inputs);
    return kwargs.training === true ? dropoutNoise(x, this.rate) : x;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}
tf.serialization.registerClass(Dropout);

/** Drop path on a residual branch (one mask value per example); active only when called with `training: true`. */
export class DropPath extends tfl.layers.Layer {
  static className = 'SslDropPath';

  readonly rate: number;

  constructor(args: NoiseLayerArgs) {
    super(args);
    validateNoiseRate('dropPath', args.rate);
    this.rate = args.rate;
  }

  override computeOutputShape(inputShape: LayerShape | LayerShape[]): LayerShape {
    return singleShape(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    const x = singleTensor(inputs);
    return kwargs.training === true ? dropPathNoise(x, this.rate) : x;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}
tf.serialization.registerClass(DropPath);
