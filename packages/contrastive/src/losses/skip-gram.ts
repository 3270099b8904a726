import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { SslError } from '@ssl/core';

/**
 * Skip-gram with negative sampling (Mikolov, Sutskever, Chen, Corrado, Dean 2013, "Distributed Representations of
 * Words and Phrases and their Compositionality", eq. 4). For a centre word c with input vector v_c, an observed
 * context word o with output vector v'_o, and K noise words k ~ P_n(w) with output vectors v'_k, the objective
 *
 *   log σ(v'_o · v_c) + Σ_{k=1..K} log σ(−v'_k · v_c)
 *
 * is maximised; this returns its negative, averaged over the P pairs. With log σ(x) = −softplus(−x) each
 * pair's term is softplus(−v'_o·v_c) + Σ_k softplus(v'_k·v_c), which stays finite for any scores.
 *
 * centers [P, d] = v_c, contexts [P, d] = v'_o, negatives [P, K, d] = the v'_k of each pair.
 */
export function skipGramNegativeSamplingLoss(centers: Tensor2D, contexts: Tensor2D, negatives: Tensor3D): Scalar {
  const [pairs, dim] = centers.shape;
  if (contexts.shape[0] !== pairs || contexts.shape[1] !== dim || negatives.shape[0] !== pairs || negatives.shape[2] !== dim) {
    throw new SslError(
      'shape-mismatch',
      `skipGramNegativeSamplingLoss: centers [${centers.shape}], contexts [${contexts.shape}] and negatives [${negatives.shape}] must be [P, d], [P, d] and [P, K, d].`,
    );
  }
  return tf.tidy(() => {
    const positiveScores = tf.sum(tf.mul(centers, contexts), 1); // v'_o · v_c, [P]
    const negativeScores = tf.sum(tf.mul(tf.expandDims(centers, 1), negatives), 2); // v'_k · v_c, [P, K]
    const perPair = tf.add(tf.softplus(tf.neg(positiveScores)), tf.sum(tf.softplus(negativeScores), 1));
    return tf.mean(perPair) as Scalar;
  });
}
