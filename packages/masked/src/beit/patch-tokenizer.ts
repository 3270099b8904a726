import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, requireFloat, requireRank, tfl } from '@ssl/core';
import { patchify, unpatchify } from '../blocks/patchify';

/*
 * BEiT's visual tokenizer, as a VQ codebook over raw image patches: every p×p patch becomes the index of its
 * nearest codebook vector. It is trained like the codebook of a VQ-VAE whose encoder and decoder are the
 * identity (equivalently, k-means by gradient descent on the patches), with data-initialised codes and
 * dead-code restarts. See the README ("Why a patch codebook") for why this and not a dVAE.
 */

/** The codebook as a one-layer network (a K-row embedding table) so the trainer, checkpoints and products treat it as any network. */
export function buildPatchCodebook(codebookSize: number, patchValues: number, seed?: number): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.embedding({
        inputDim: codebookSize,
        outputDim: patchValues,
        inputLength: codebookSize,
        // Replaced by data patches before the first update (see `initialCodes`); uniform pixels meanwhile.
        embeddingsInitializer: tfl.initializers.randomUniform({ minval: 0, maxval: 1, seed }),
        name: 'codebook',
      }),
    ],
  });
}

/** The codebook's vectors [K, d], differentiable with respect to its weights. */
export function codebookVectors(codebook: tfl.LayersModel): Tensor2D {
  return tf.tidy(() => {
    const size = codebook.inputs[0].shape[1] as number;
    const codes = codebook.apply(tf.reshape(tf.range(0, size, 1, 'float32'), [1, size])) as Tensor3D;
    return tf.squeeze(codes, [0]) as Tensor2D;
  });
}

/** Squared distances ‖z − e_k‖² = ‖z‖² − 2 z·e_k + ‖e_k‖² of patches [N, L, d] to codes [K, d]: [N·L, K]. */
function squaredDistances(patches: Tensor3D, codes: Tensor2D): Tensor2D {
  return tf.tidy(() => {
    const flat = tf.reshape(patches, [-1, patches.shape[2]]) as Tensor2D;
    const cross = tf.matMul(flat, codes, false, true);
    return tf.add(tf.sub(tf.sum(tf.square(flat), 1, true), tf.mul(cross, 2)), tf.sum(tf.square(codes), 1)) as Tensor2D;
  });
}

function checkPatches(patches: Tensor3D, codes: Tensor2D): void {
  requireRank('patches', patches, 3, '[N, L, p·p·C]');
  requireFloat('patches', patches);
  requireRank('codes', codes, 2, '[K, p·p·C]');
  if (patches.shape[2] !== codes.shape[1]) {
    throw new SslError(
      'shape-mismatch',
      `patch tokenizer: patches of ${patches.shape[2]} values and codes of ${codes.shape[1]} values; the codebook was built for another patch size.`,
    );
  }
}

/** The token of each patch: the index of its nearest code (squared Euclidean distance), int32 [N, L]. */
export function nearestCodes(patches: Tensor3D, codes: Tensor2D): Tensor2D {
  checkPatches(patches, codes);
  return tf.tidy(() => tf.reshape(tf.argMin(squaredDistances(patches, codes), 1), [patches.shape[0], patches.shape[1]]) as Tensor2D);
}

/** Tokens [N, L] of images [N, H, W, C] cut into p×p patches (MAE's patch order). */
export function tokenizeImages(images: Tensor4D, codes: Tensor2D, patchSize: number): Tensor2D {
  return tf.tidy(() => nearestCodes(patchify(images, patchSize), codes));
}

/** The images the tokens stand for: each patch replaced by its code, [N, H, W, C]. */
export function detokenize(tokens: Tensor2D, codes: Tensor2D, patchSize: number, imageShape: readonly [number, number, number]): Tensor4D {
  return tf.tidy(() => {
    const patches = tf.reshape(tf.gather(codes, tf.reshape(tokens, [-1])), [tokens.shape[0], tokens.shape[1], codes.shape[1]]) as Tensor3D;
    return unpatchify(patches, patchSize, [...imageShape] as [number, number, number]);
  });
}

/**
 * The codebook loss of a VQ-VAE with an identity encoder (van den Oord et al. 2017, eq. 3, second term):
 * mean ‖sg(z) − e_{k(z)}‖² over patches and values, k(z) the nearest code. Its gradient moves each code
 * towards the mean of the patches assigned to it (one step of k-means, by gradient). Patches [N, L, d].
 */
export function codebookLoss(patches: Tensor3D, codes: Tensor2D): Scalar {
  checkPatches(patches, codes);
  return tf.tidy(() => {
    const flat = tf.reshape(patches, [-1, patches.shape[2]]);
    const nearest = tf.argMin(squaredDistances(patches, codes), 1) as Tensor1D;
    // A one-hot product rather than tf.gather: gather's gradient has no float form for its int indices under the tape.
    const quantised = tf.matMul(tf.oneHot(nearest, codes.shape[0]), codes);
    return tf.mean(tf.squaredDifference(quantised, flat)) as Scalar;
  });
}

/** How many patches each code took, [K] float32 (for dead-code restarts). */
export function codeCounts(tokens: Tensor2D, codebookSize: number): Tensor1D {
  return tf.tidy(() => tf.sum(tf.oneHot(tf.reshape(tokens, [-1]) as Tensor1D, codebookSize), 0) as Tensor1D);
}
