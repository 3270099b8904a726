import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { SslError, formatShape, requireRank } from '@ssl/core';

/**
 * Per-sample gather along the token axis: out[n, k, :] = tokens[n, indices[n, k], :] (MAE's
 * torch.gather(x, 1, ids.unsqueeze(-1).repeat(1, 1, D))). Differentiable with respect to `tokens`: the
 * gradient scatters back into the gathered positions.
 *
 * Implemented as one gather on the flattened [N·L, D] tokens with indices offset by n·L, which keeps the
 * backward pass a single scatter (tf.gather with batchDims = 1 differentiates sample by sample).
 * Indices must lie in [0, L); they are not checked (that would need a GPU→CPU read every call), and an
 * out-of-range index would read a neighbouring sample's token.
 *
 * @param tokens [N, L, D].
 * @param indices [N, K] int32, e.g. `keepIndices` or `restoreIndices` from `randomMasking`.
 * @returns [N, K, D].
 */
export function gatherTokens(tokens: Tensor3D, indices: Tensor2D): Tensor3D {
  requireRank('tokens', tokens, 3, '[N, L, D]');
  requireRank('indices', indices, 2, '[N, K]');
  if (indices.dtype !== 'int32') {
    throw new SslError('dtype-mismatch', `indices must be int32, got ${indices.dtype}. Cast with tf.cast(indices, 'int32').`, {
      details: { dtype: indices.dtype },
    });
  }
  if (indices.shape[0] !== tokens.shape[0]) {
    throw new SslError(
      'shape-mismatch',
      `indices ${formatShape(indices.shape)} and tokens ${formatShape(tokens.shape)} must have the same batch size (first dimension).`,
      { details: { indices: indices.shape, tokens: tokens.shape } },
    );
  }
  const [batch, length, width] = tokens.shape;
  const count = indices.shape[1];
  return tf.tidy(() => {
    const sampleOffsets = tf.reshape(tf.mul(tf.range(0, batch, 1, 'int32'), tf.scalar(length, 'int32')), [batch, 1]);
    const flatIndices = tf.reshape(tf.add(indices, sampleOffsets), [batch * count]);
    const gathered = tf.gather(tf.reshape(tokens, [batch * length, width]), flatIndices, 0);
    return tf.reshape(gathered, [batch, count, width]) as Tensor3D;
  });
}
