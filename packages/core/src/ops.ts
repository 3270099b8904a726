import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';

/**
 * Identity in the forward pass, zero gradient in the backward pass (tfjs has no stop_gradient op).
 * The stop-gradient of BYOL's target, SimSiam's z, FixMatch's pseudo-labels and DINO's teacher.
 */
export function stopGradient<T extends Tensor>(x: T): T {
  const fn = tf.customGrad(((input: Tensor) => ({
    value: tf.clone(input),
    gradFunc: (dy: Tensor) => tf.zerosLike(dy),
  })) as Parameters<typeof tf.customGrad>[0]);
  return fn(x) as T;
}

/** x / max(‖x‖₂, ε) along the last axis (ε avoids 0/0 for an all-zero row). */
export function l2Normalize<T extends Tensor>(x: T, epsilon = 1e-12): T {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), epsilon * epsilon));
    return tf.div(x, norm) as T;
  });
}
