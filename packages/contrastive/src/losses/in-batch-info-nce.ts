import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { l2Normalize, requireFloat, requireNonEmpty, requirePositive, requireRank, requireSameShape } from '@ssl/core';

export interface InBatchInfoNceOptions {
  /** Softmax temperature τ > 0 (MoCo v3: 0.2 for ResNets, 0.1 for ViTs; NNCLR: 0.1). */
  temperature: number;
}

/**
 * InfoNCE with in-batch keys: query i must pick out key i among the N keys of the batch,
 * L = −(1/N) Σ_i log exp(q_i·k_i/τ) / Σ_j exp(q_i·k_j/τ), q and k L2-normalised. MoCo v3's
 * `contrastive_loss` (Chen, Xie, He 2021, Algorithm 1, before its 2τ scale) and NNCLR's eq. 2 with
 * q = NN(z¹) and k = z²(or the predictions). Unlike NT-Xent, negatives come only from the other view.
 *
 * @param queries [N, D]
 * @param keys [N, D], row i the positive of query i.
 */
export function inBatchInfoNceLoss(queries: Tensor2D, keys: Tensor2D, options: InBatchInfoNceOptions): Scalar {
  requireRank('queries', queries, 2, '[N, D]');
  requireRank('keys', keys, 2, '[N, D]');
  requireSameShape('queries', queries, 'keys', keys, 'row i of keys is the positive of query i');
  requireNonEmpty('queries', queries);
  requireFloat('queries', queries);
  requireFloat('keys', keys);
  requirePositive('temperature', options?.temperature);
  const { temperature } = options;
  return tf.tidy(() => {
    const logits = tf.div(tf.matMul(l2Normalize(queries), l2Normalize(keys), false, true), temperature) as Tensor2D;
    const positives = tf.sum(tf.mul(logits, tf.eye(queries.shape[0])), 1);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), positives)) as Scalar;
  });
}
