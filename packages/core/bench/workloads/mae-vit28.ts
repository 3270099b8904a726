/**
 * MAE step (He et al. 2022) on 28×28×1 images: patch 4 (49 patches of 16 pixels), encoder width 128,
 * depth 4, 4 heads, MLP ratio 4, pre-norm; mask ratio 0.75 with a per-sample random shuffle (12 patches
 * kept); decoder width 64, depth 2, 4 heads, with mask tokens; MSE on the masked patches only; AdamW;
 * batch 256. No class token (the PyTorch twin has none either).
 * Mirrors `mae_vit28` in bench/torch_workloads.py.
 */
import * as tf from '@tensorflow/tfjs-core';

import {
  ParameterStore,
  applyDense,
  applyTransformerBlock,
  applyWeightDecay,
  dense,
  layerNorm,
  norm,
  trainingStep,
  transformerBlock,
  type TrainingStep,
} from './ops';

export const BATCH_SIZE = 256;
const PATCH = 4;
const PATCHES = 49;
const PATCH_PIXELS = PATCH * PATCH;
const KEPT = 12;
const WIDTH = 128;
const DECODER_WIDTH = 64;
const LEARNING_RATE = 1.5e-4;
const WEIGHT_DECAY = 0.05;

/** [batch, 28, 28, 1] → [batch, 49, 16], patches in row-major order. */
function patchify(images: tf.Tensor4D): tf.Tensor3D {
  const batch = images.shape[0];
  return images.reshape([batch, 7, PATCH, 7, PATCH]).transpose([0, 1, 3, 2, 4]).reshape([batch, PATCHES, PATCH_PIXELS]);
}

/** Rows `indices[b, i]` of `tokens[b]`, for every sample b. tokens: [batch, n, width], indices: [batch, k]. */
function gatherTokens(tokens: tf.Tensor3D, indices: tf.Tensor2D): tf.Tensor3D {
  const [batch, n, width] = tokens.shape;
  const offsets = tf.range(0, batch * n, n, 'int32').reshape([batch, 1]);
  const flatIndices = tf.add(indices, offsets).reshape([-1]);
  return tf.gather(tokens.reshape([batch * n, width]), flatIndices).reshape([batch, indices.shape[1], width]);
}

export function maeVit28(): TrainingStep {
  const store = new ParameterStore();
  const patchEmbed = dense(store, PATCH_PIXELS, WIDTH);
  const positions = store.weight([1, PATCHES, WIDTH], 50);
  const encoderBlocks = Array.from({ length: 4 }, () => transformerBlock(store, WIDTH, 4, 4));
  const encoderNorm = norm(store, WIDTH);
  const decoderEmbed = dense(store, WIDTH, DECODER_WIDTH);
  const maskToken = store.weight([1, 1, DECODER_WIDTH], 50);
  const decoderPositions = store.weight([1, PATCHES, DECODER_WIDTH], 50);
  const decoderBlocks = Array.from({ length: 2 }, () => transformerBlock(store, DECODER_WIDTH, 4, 4));
  const decoderNorm = norm(store, DECODER_WIDTH);
  const pixelHead = dense(store, DECODER_WIDTH, PATCH_PIXELS);
  const images = tf.randomUniform([BATCH_SIZE, 28, 28, 1], 0, 1, 'float32', 31) as tf.Tensor4D;
  let maskSeed = 100;

  const loss = (): tf.Scalar => {
    const target = patchify(images);
    // MAE's random masking: argsort of per-sample noise gives a shuffle; the first KEPT are visible.
    const noise = tf.randomUniform([BATCH_SIZE, PATCHES], 0, 1, 'float32', maskSeed++);
    const shuffle = tf.topk(noise, PATCHES).indices as tf.Tensor2D;
    const restore = tf.topk(tf.neg(tf.cast(shuffle, 'float32')), PATCHES).indices as tf.Tensor2D;
    const keep = shuffle.slice([0, 0], [BATCH_SIZE, KEPT]);

    let tokens = tf.add(applyDense(patchEmbed, target), positions) as tf.Tensor3D;
    tokens = gatherTokens(tokens, keep);
    for (const block of encoderBlocks) tokens = applyTransformerBlock(block, tokens);
    tokens = layerNorm(tokens, encoderNorm) as tf.Tensor3D;

    const visible = applyDense(decoderEmbed, tokens) as tf.Tensor3D;
    // As @ssl's MAE decoder (masked/src/mae/decoder.ts) and torch's expand: a broadcast product, whose gradient
    // is one sum. tf.tile's gradient is a slice and an add per copy (9 472 kernel calls, ~80 ms of the step).
    const masked = tf.mul(tf.ones([BATCH_SIZE, PATCHES - KEPT, 1]), maskToken);
    let decoded = gatherTokens(tf.concat([visible, masked], 1) as tf.Tensor3D, restore);
    decoded = tf.add(decoded, decoderPositions) as tf.Tensor3D;
    for (const block of decoderBlocks) decoded = applyTransformerBlock(block, decoded);
    const predicted = applyDense(pixelHead, layerNorm(decoded, decoderNorm));

    // 1 where the patch was hidden, in the original patch order.
    const hiddenInShuffleOrder = tf.concat([tf.zeros([BATCH_SIZE, KEPT]), tf.ones([BATCH_SIZE, PATCHES - KEPT])], 1);
    const hidden = gatherTokens(hiddenInShuffleOrder.reshape([BATCH_SIZE, PATCHES, 1]), restore).reshape([BATCH_SIZE, PATCHES]);
    const perPatch = tf.mean(tf.square(tf.sub(predicted, target)), -1);
    return tf.div(tf.sum(tf.mul(perPatch, hidden)), tf.sum(hidden)) as tf.Scalar;
  };

  const step = trainingStep(store, tf.train.adam(LEARNING_RATE, 0.9, 0.95), loss, () =>
    applyWeightDecay(store.variables, LEARNING_RATE, WEIGHT_DECAY),
  );
  return {
    ...step,
    dispose() {
      step.dispose();
      images.dispose();
    },
  };
}
