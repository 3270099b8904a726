import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, requireFloat, requirePositive, requireRank, requireSameShape } from '@ssl/core';
import { sinkhornKnopp } from './sinkhorn-knopp';

export interface SwavLossOptions {
  /** τ of the swapped prediction's softmax; the paper's 0.1. */
  temperature?: number;
  /** ε of the Sinkhorn-Knopp codes; the paper's 0.05. */
  epsilon?: number;
  /** Sinkhorn-Knopp iterations; the paper's 3. */
  iterations?: number;
  /**
   * Scores of queued past embeddings against the current prototypes, one [Q, K] per high-resolution crop
   * (the reference's `queue[i] @ prototypes.T`): prepended to that crop's scores before Sinkhorn-Knopp so
   * the equal partition is taken over Q + B samples; only the batch's own B codes are kept.
   */
  queueScores?: Tensor2D[];
}

/**
 * SwAV's swapped prediction loss (Caron et al. 2020, eq. 1–3 and `train` in the reference code):
 * for each high-resolution crop i, codes q_i = SinkhornKnopp(sg(z_i · Cᵀ)) (eq. 3, equal partition of the
 * batch over the K prototypes), and every other crop v (high- or low-resolution) predicts them:
 * ℓ(z_v, q_i) = −Σ_k q_i,k log softmax(z_v · Cᵀ / τ)_k (eq. 2). The loss is the mean over i of
 * (1 / (V − 1)) Σ_{v≠i} mean_batch ℓ, V the number of crops (the reference's subloss / (sum(nmb_crops) − 1),
 * then / len(crops_for_assign)). Codes come from the high-resolution crops only (sec. 3.2, multi-crop);
 * they carry no gradient.
 *
 * @param highResolutionScores H ≥ 1 crops' prototype scores, each [B, K] (cosine similarities).
 * @param lowResolutionScores L ≥ 0 more crops' scores, each [B, K]; H + L ≥ 2.
 */
export function swavLoss(highResolutionScores: Tensor2D[], lowResolutionScores: Tensor2D[], options: SwavLossOptions = {}): Scalar {
  validate(highResolutionScores, lowResolutionScores, options.queueScores);
  const temperature = options.temperature ?? 0.1;
  requirePositive('temperature', temperature);
  const sinkhorn = { epsilon: options.epsilon ?? 0.05, iterations: options.iterations ?? 3 };
  const batchSize = highResolutionScores[0].shape[0];
  const crops = [...highResolutionScores, ...lowResolutionScores];

  return tf.tidy(() => {
    const logProbabilities = crops.map((scores) => tf.logSoftmax(tf.div(scores, temperature)));
    const perCodeLosses = highResolutionScores.map((scores, i) => {
      const queued = options.queueScores?.[i];
      const all = queued === undefined ? scores : (tf.concat([queued, scores], 0) as Tensor2D);
      // The batch's own codes are the last B rows (the reference's [-bs:]).
      const codes = tf.slice(sinkhornKnopp(all, sinkhorn), [all.shape[0] - batchSize, 0], [batchSize, -1]);
      const predictions = logProbabilities.filter((_, v) => v !== i).map((logP) => tf.mean(tf.neg(tf.sum(tf.mul(codes, logP), 1))));
      return tf.div(tf.addN(predictions), crops.length - 1);
    });
    return tf.div(tf.addN(perCodeLosses), highResolutionScores.length) as Scalar;
  });
}

function validate(high: Tensor2D[], low: Tensor2D[], queueScores: Tensor2D[] | undefined): void {
  if (!Array.isArray(high) || !Array.isArray(low) || high.length < 1 || high.length + low.length < 2) {
    throw new SslError(
      'shape-mismatch',
      `swavLoss needs at least 1 high-resolution crop and 2 crops in all (a code and a crop that predicts it); got ` +
        `${Array.isArray(high) ? high.length : 'no array of'} high- and ${Array.isArray(low) ? low.length : 'no array of'} low-resolution crops.`,
    );
  }
  const crops = [
    ...high.map((s, i): [string, Tensor2D] => [`highResolutionScores[${i}]`, s]),
    ...low.map((s, i): [string, Tensor2D] => [`lowResolutionScores[${i}]`, s]),
  ];
  for (const [name, scores] of crops) {
    requireRank(name, scores, 2, '[B, K]');
    requireFloat(name, scores);
    requireSameShape('highResolutionScores[0]', high[0], name, scores, 'every crop has the same batch size and number of prototypes');
  }
  if (high[0].size === 0) throw new SslError('shape-mismatch', 'highResolutionScores[0] is empty.');
  if (queueScores === undefined) return;
  if (!Array.isArray(queueScores) || queueScores.length !== high.length) {
    throw new SslError(
      'shape-mismatch',
      `queueScores must hold one [Q, K] tensor per high-resolution crop (${high.length}); got ${Array.isArray(queueScores) ? queueScores.length : 'no array'}.`,
    );
  }
  queueScores.forEach((scores, i) => {
    requireRank(`queueScores[${i}]`, scores, 2, '[Q, K]');
    requireFloat(`queueScores[${i}]`, scores);
    if (scores.shape[1] !== high[0].shape[1]) {
      throw new SslError('shape-mismatch', `queueScores[${i}] has ${scores.shape[1]} prototypes where the crops have ${high[0].shape[1]}.`);
    }
  });
}
