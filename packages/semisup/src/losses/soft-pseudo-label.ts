import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { requirePositive, stopGradient } from '@ssl/core';
import { checkThresholdedInput, confidentPseudoLabels } from './classwise-threshold';
import { sharpen } from './sharpen';

export interface SoftPseudoLabelLossInput {
  /** [N, K] class probabilities q of the weakly augmented unlabeled images (after distribution alignment, if any). */
  weakProbabilities: Tensor2D;
  /** [N, K] classifier logits on the strongly augmented versions of the same images. */
  logitsStrong: Tensor2D;
  /** [K] the confidence each predicted class needs: τ for every class in FixMatch, T_t(c) / τ_t(c) in FlexMatch / FreeMatch. */
  classThresholds: Tensor1D;
  /** T of the sharpening, > 0: 1 keeps q itself as the target, T → 0 approaches the one-hot argmax (hard pseudo-labels). */
  temperature: number;
}

export interface SoftPseudoLabelLossResult {
  /** Scalar unlabeled loss ℓ_u. */
  loss: Scalar;
  /** [N] float32, 1 where max q_b ≥ T(argmax q_b): the same mask as with hard pseudo-labels. */
  mask: Tensor1D;
  /** [N] int32, argmax q_b (the class whose threshold the sample is held to). */
  pseudoLabels: Tensor1D;
  /** [N] float32, max q_b. */
  confidence: Tensor1D;
}

/**
 * FixMatch's unlabeled loss with soft pseudo-labels: the weak view's sharpened distribution is the target instead of
 * its one-hot argmax, under the same confidence mask (USB's `use_hard_label: false`; the FixMatch paper's §5 compares
 * sharpening with the argmax):
 * ℓ_u = 1/N Σ_b 1[max q_b ≥ T(argmax q_b)] · H(Sharpen(q_b, T), softmax(logitsStrong_b)),
 * H(p, r) = −Σ_k p_k log r_k, Sharpen(q, T)_k = q_k^{1/T} / Σ_j q_j^{1/T} (MixMatch eq. 7, `sharpen`).
 *
 * A confident but wrong weak prediction then still puts weight on its runner-up classes (the shirt/T-shirt/pullover
 * confusions of Fashion-MNIST) instead of all of it on one. q and the target are detached (no gradient reaches the
 * weak view); the mean runs over all N samples, as `fixMatchLoss` and `classwiseThresholdLoss`. The caller disposes
 * `mask`, `pseudoLabels` and `confidence`.
 */
export function softPseudoLabelLoss({
  weakProbabilities,
  logitsStrong,
  classThresholds,
  temperature,
}: SoftPseudoLabelLossInput): SoftPseudoLabelLossResult {
  checkThresholdedInput({ weakProbabilities, logitsStrong, classThresholds });
  requirePositive('temperature', temperature);
  return tf.tidy(() => {
    const { q, pseudoLabels, confidence, mask } = confidentPseudoLabels(weakProbabilities, classThresholds);
    const targets = stopGradient(sharpen(q, temperature));
    const crossEntropy = tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logitsStrong)), 1));
    const loss = tf.mean(tf.mul(crossEntropy, mask)) as Scalar;
    return { loss, mask, pseudoLabels, confidence };
  });
}
