import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, l2Normalize, requireRank, stopGradient } from '@ssl/core';

/**
 * NNCLR's NN(z, Q) (Dwibedi et al. 2021, eq. 1): for each row of `queries` [N, D], the row of `support`
 * [K, D] with the largest cosine similarity, returned as stored (no gradient: the support set is a queue of
 * past embeddings).
 */
export function nearestNeighbours(queries: Tensor2D, support: Tensor2D): Tensor2D {
  requireRank('queries', queries, 2, '[N, D]');
  requireRank('support', support, 2, '[K, D]');
  if (support.shape[1] !== queries.shape[1] || support.shape[0] < 1) {
    throw new SslError(
      'shape-mismatch',
      `support ${formatShape(support.shape)} must be [K ≥ 1, ${queries.shape[1]}] like queries ${formatShape(queries.shape)}.`,
    );
  }
  return tf.tidy(() => {
    const similarity = tf.matMul(l2Normalize(stopGradient(queries)), l2Normalize(support), false, true);
    // A one-hot matMul rather than gather: gather's gradient is undefined for int32 indices that depend on
    // `queries`, and multiplying by exact 0s and 1s copies the rows exactly.
    const choice = tf.cast(tf.oneHot(tf.argMax(similarity, 1) as tf.Tensor1D, support.shape[0]), 'float32');
    return stopGradient(tf.matMul(choice, support) as Tensor2D);
  });
}
