import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { SslError, requireFloat, requireRank } from '@ssl/core';

/**
 * BEiT's masked image modeling loss (Bao et al. 2022, eq. 1): the cross-entropy −log p(z_i | x^M) of the
 * tokenizer's token z_i at every masked position i ∈ M, averaged over the masked positions of the batch.
 * `logits` [N, L, K] over the codebook, `tokens` [N, L] int32 targets, `mask` [N, L] (1 = masked).
 */
export function maskedTokenLoss(logits: Tensor3D, tokens: Tensor2D, mask: Tensor2D): Scalar {
  requireRank('logits', logits, 3, '[N, L, K]');
  requireFloat('logits', logits);
  requireRank('tokens', tokens, 2, '[N, L]');
  requireRank('mask', mask, 2, '[N, L]');
  const [batch, length, vocabulary] = logits.shape;
  for (const [name, t] of [
    ['tokens', tokens],
    ['mask', mask],
  ] as const) {
    if (t.shape[0] !== batch || t.shape[1] !== length)
      throw new SslError(
        'shape-mismatch',
        `maskedTokenLoss: ${name} [${t.shape.join(', ')}] must be [N, L] = [${batch}, ${length}] of the logits.`,
      );
  }
  if (tokens.dtype !== 'int32')
    throw new SslError('dtype-mismatch', `maskedTokenLoss: tokens must be int32 codebook indices, got ${tokens.dtype}.`);
  return tf.tidy(() => {
    const logProbabilities = tf.logSoftmax(logits);
    const picked = tf.sum(tf.mul(logProbabilities, tf.oneHot(tokens, vocabulary)), 2);
    // Guarded so that a batch with nothing masked gives 0, not NaN.
    return tf.div(tf.neg(tf.sum(tf.mul(picked, mask))), tf.maximum(tf.sum(mask), 1)) as Scalar;
  });
}
