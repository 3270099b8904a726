import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { requireFloat, requireNonEmpty, requirePositive, requireRank, requireSameShape, stopGradient } from '@ssl/core';

/** Smallest probability under the log of the target, so a one-hot target row gives 0 · log 0 = 0. */
const SMALLEST_PROBABILITY = 1.1754944e-38;

/**
 * KL(p ‖ softmax(z)) averaged over the batch: 1/N Σ_b Σ_k p_bk (log p_bk − log softmax(z_b)_k), VAT's
 * divergence D (Miyato et al. 2018, eq. 1 and 5). p is a constant target (detached); gradients flow into z.
 *
 * @param targetProbabilities [N, K] p(y | x, θ̂), the prediction on the clean input.
 * @param logits [N, K] the logits on the perturbed input.
 */
export function klDivergence(targetProbabilities: Tensor2D, logits: Tensor2D): Scalar {
  requireRank('targetProbabilities', targetProbabilities, 2, '[N, K]');
  requireRank('logits', logits, 2, '[N, K]');
  requireSameShape('targetProbabilities', targetProbabilities, 'logits', logits, 'row b of both belongs to the same image');
  requireNonEmpty('logits', logits);
  requireFloat('logits', logits);
  return tf.tidy(() => {
    const p = stopGradient(targetProbabilities);
    const logP = tf.log(tf.maximum(p, SMALLEST_PROBABILITY));
    return tf.mean(tf.sum(tf.mul(p, tf.sub(logP, tf.logSoftmax(logits))), 1)) as Scalar;
  });
}

/** d / ‖d‖₂ per sample (the first axis), as VAT's `get_normalized_vector` (ε inside the root avoids 0/0). */
function normalizePerSample<T extends Tensor>(d: T): T {
  const axes = Array.from({ length: d.rank - 1 }, (_, i) => i + 1);
  return tf.div(d, tf.sqrt(tf.add(tf.sum(tf.square(d), axes, true), 1e-12))) as T;
}

export interface VirtualAdversarialOptions {
  /** ξ, the finite-difference step of the power iteration (paper: 1e-6). */
  xi: number;
  /** ε, the L2 norm of the perturbation per image, in input units. */
  epsilon: number;
  /** Power iterations K (paper: 1 suffices). */
  iterations: number;
  /** The random start d, same shape as the images (e.g. N(0, 1)); normalised here. */
  noise: Tensor4D;
}

/**
 * VAT's virtual adversarial perturbation (Miyato et al. 2018, eq. 7–8 and Algorithm 1): starting from a
 * random unit vector d, K times d ← normalize(∇_r D(p, f(x + r)) at r = ξd), then r_vadv = ε d. The
 * direction approximates the dominant eigenvector of the Hessian of D at r = 0, the direction in which the
 * prediction changes fastest. The result is a constant (no gradient flows back through it), as the paper;
 * it is read back once from the backend (see `detached`).
 *
 * @param forward logits of a batch of images (the model in the same mode as for the loss).
 * @param images [N, H, W, C] clean inputs.
 * @param targetProbabilities [N, K] p(y | x, θ̂) on the clean inputs.
 */
export function virtualAdversarialPerturbation(
  forward: (images: Tensor4D) => Tensor2D,
  images: Tensor4D,
  targetProbabilities: Tensor2D,
  options: VirtualAdversarialOptions,
): Tensor4D {
  requireRank('images', images, 4, '[N, H, W, C]');
  requireSameShape('images', images, 'noise', options.noise, 'one random start per pixel');
  requirePositive('xi', options.xi);
  requirePositive('epsilon', options.epsilon);
  return tf.tidy(() => {
    const target = stopGradient(targetProbabilities);
    let direction = normalizePerSample(options.noise);
    for (let i = 0; i < options.iterations; i++) {
      const scaled = tf.mul(direction, options.xi) as Tensor4D;
      // ∇_r D(p, f(x + r)) at r = ξd (eq. 8's finite-difference Hessian-vector product).
      const gradient = tf.grad((r: Tensor) => klDivergence(target, forward(tf.add(images, r) as Tensor4D)))(scaled);
      direction = normalizePerSample(stopGradient(gradient)) as Tensor4D;
    }
    return detached(tf.mul(direction, options.epsilon) as Tensor4D);
  });
}

/**
 * A copy of `t` that no gradient tape can trace back. `stopGradient` is not enough here: its gradient is
 * zero, but the trainer's backward pass still walks through the ops that produced its input, and those
 * include the inner `tf.grad`'s own backward kernels (batch norm's), which have no gradient in tfjs. A read
 * of the values (a memory copy on the cpu and wasm backends) cuts the path.
 */
function detached(t: Tensor4D): Tensor4D {
  return tf.tensor4d(t.dataSync(), t.shape, 'float32');
}
