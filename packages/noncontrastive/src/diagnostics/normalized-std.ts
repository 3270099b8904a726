import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { l2Normalize } from '@ssl/core';

/**
 * Collapse signal (SimSiam, Chen & He 2021, sec. 4.1 and fig. 2): the std over the batch of each dimension
 * of the L2-normalized vectors, averaged over dimensions, times √d. About 1 for well-spread embeddings
 * (for z/‖z‖ with z ~ N(0, I) each dimension has std ≈ 1/√d), 0 for a collapsed (constant) output.
 */
export function normalizedStd(x: Tensor2D): Scalar {
  return tf.tidy(() => {
    const normalized = l2Normalize(x);
    const { variance } = tf.moments(normalized, 0);
    return tf.mul(tf.mean(tf.sqrt(variance)), Math.sqrt(x.shape[1])) as Scalar;
  });
}
