import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import {
  SslError,
  formatValue,
  l2Normalize,
  requireFloat,
  requireNonEmpty,
  requirePositive,
  requireRank,
  requireSameShape,
} from '@ssl/core';

/**
 * CLIP's symmetric contrastive loss (Radford et al. 2021, Figure 3 pseudocode):
 * both embeddings are L2-normalized, logits = logitScale · I·Tᵀ ([N, N]), and the loss is the mean of the
 * image→text cross-entropy (rows) and the text→image cross-entropy (columns), the matching pair i ↔ i
 * being the target.
 *
 * `logitScale` is the multiplier itself (CLIP learns t with scale = exp(t), initialised to 1/0.07 and
 * clipped at 100); pass `tf.exp(logTemperatureVariable)` to learn it, gradients flow into a Scalar.
 *
 * Symmetric under swapping images and texts; invariant to positive rescaling of either embedding.
 *
 * @param imageEmbeddings [N, D].
 * @param textEmbeddings [N, D], row i describes image i.
 * @param logitScale > 0, as a number or a Scalar tensor.
 */
export function clipLoss(imageEmbeddings: Tensor2D, textEmbeddings: Tensor2D, logitScale: Scalar | number): Scalar {
  requireRank('imageEmbeddings', imageEmbeddings, 2, '[N, D]');
  requireRank('textEmbeddings', textEmbeddings, 2, '[N, D]');
  requireSameShape(
    'imageEmbeddings',
    imageEmbeddings,
    'textEmbeddings',
    textEmbeddings,
    'row i of both belongs to the same image-text pair',
  );
  requireNonEmpty('imageEmbeddings', imageEmbeddings);
  requireFloat('imageEmbeddings', imageEmbeddings);
  requireFloat('textEmbeddings', textEmbeddings);
  if (typeof logitScale === 'number') {
    requirePositive('logitScale', logitScale);
  } else if (!(logitScale instanceof tf.Tensor) || logitScale.rank !== 0 || logitScale.dtype !== 'float32') {
    throw new SslError(
      'invalid-config',
      `logitScale must be a positive number or a float32 Scalar tensor, got ${
        logitScale instanceof tf.Tensor ? `a ${logitScale.dtype} tensor of shape [${logitScale.shape.join(', ')}]` : formatValue(logitScale)
      }.`,
      { details: { field: 'logitScale' } },
    );
  }

  return tf.tidy(() => {
    const images = l2Normalize(imageEmbeddings);
    const texts = l2Normalize(textEmbeddings);
    const logits = tf.mul(logitScale, tf.matMul(images, texts, false, true)); // [N, N], logits_per_image
    // Both cross-entropies need the diagonal logit, scale · cos(image_i, text_i).
    const matchingLogits = tf.mul(logitScale, tf.sum(tf.mul(images, texts), 1));
    const imageToText = tf.mean(tf.sub(tf.logSumExp(logits, 1), matchingLogits));
    const textToImage = tf.mean(tf.sub(tf.logSumExp(logits, 0), matchingLogits));
    return tf.div(tf.add(imageToText, textToImage), 2) as Scalar;
  });
}
