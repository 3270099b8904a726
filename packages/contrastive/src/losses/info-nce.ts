import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import {
  SslError,
  formatShape,
  l2Normalize,
  requireFloat,
  requireNonEmpty,
  requirePositive,
  requireRank,
  requireSameShape,
} from '@ssl/core';

export interface InfoNceOptions {
  /** Softmax temperature τ > 0 (MoCo v1 uses 0.07, MoCo v2 0.2). */
  temperature: number;
}

/**
 * InfoNCE with a queue of negatives, MoCo eq. 1 (He et al. 2020):
 * L_q = −log exp(q·k₊/τ) / (exp(q·k₊/τ) + Σ_j exp(q·queue_j/τ)).
 *
 * `q` and `k` are L2-normalized here; `queue` is used as given (MoCo enqueues keys that are already
 * normalized). Each query's logits are [q·k, q·queue_0, ..., q·queue_{K−1}] / τ and its target is index 0,
 * so negatives come only from the queue, never from the other keys of the batch. Returns the mean
 * cross-entropy over the N queries.
 *
 * Gradients flow into every input given; in MoCo the keys come from the momentum encoder, which is updated
 * by EMA rather than by this gradient, so leave its variables out of the optimizer's var list (the
 * reference code computes k under torch.no_grad()).
 *
 * @param q [N, D] queries (online encoder).
 * @param k [N, D] positive keys (momentum encoder), row-aligned with `q`.
 * @param queue [K, D] negative keys, K ≥ 1.
 */
export function infoNceLoss(q: Tensor2D, k: Tensor2D, queue: Tensor2D, options: InfoNceOptions): Scalar {
  requireRank('q', q, 2, '[N, D]');
  requireRank('k', k, 2, '[N, D]');
  requireRank('queue', queue, 2, '[K, D]');
  requireSameShape('q', q, 'k', k, 'row i of k is the positive key of query i');
  requireNonEmpty('q', q);
  if (queue.shape[0] < 1 || queue.shape[1] !== q.shape[1]) {
    throw new SslError(
      'shape-mismatch',
      `queue ${formatShape(queue.shape)} must be [K, D] with K ≥ 1 and D = ${q.shape[1]} (the feature size of q ${formatShape(q.shape)}).`,
      { details: { queue: queue.shape, q: q.shape } },
    );
  }
  requireFloat('q', q);
  requireFloat('k', k);
  requireFloat('queue', queue);
  requirePositive('temperature', options?.temperature);
  const { temperature } = options;

  return tf.tidy(() => {
    const queries = l2Normalize(q);
    const keys = l2Normalize(k);
    const positiveLogits = tf.sum(tf.mul(queries, keys), 1, true); // [N, 1], MoCo's l_pos
    const negativeLogits = tf.matMul(queries, queue, false, true); // [N, K], MoCo's l_neg
    const logits = tf.div(tf.concat([positiveLogits, negativeLogits], 1), temperature);
    // Cross-entropy with target 0: logsumexp(logits) − logits[:, 0].
    const perQuery = tf.sub(tf.logSumExp(logits, 1), tf.div(tf.squeeze(positiveLogits, [1]), temperature));
    return tf.mean(perQuery) as Scalar;
  });
}
