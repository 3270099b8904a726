import * as tf from '@tensorflow/tfjs-core';

import { ClassToken, PositionEmbedding } from './layers/embeddings';
import { L2Normalization, PrototypeLayer, WeightNormDense } from './layers/head-layers';
import { DropPath, Dropout } from './layers/noise';
import { SequencePooling, TokenPooling } from './layers/pooling';
import { TransformerBlock } from './layers/transformer-block';

/** Every custom layer @ssl/core defines; each module registers its class when it is loaded. */
export const SSL_LAYER_CLASSES = [
  TransformerBlock,
  PositionEmbedding,
  ClassToken,
  TokenPooling,
  SequencePooling,
  L2Normalization,
  WeightNormDense,
  PrototypeLayer,
  Dropout,
  DropPath,
] as const;

/**
 * Registers the custom layers with tfjs serialization (idempotent), so `tf.loadLayersModel` can rebuild
 * models that use them. Importing the layer modules already does it; calling this keeps the
 * registration even where a bundler drops modules it believes side-effect free.
 */
export function registerSslLayers(): void {
  for (const layerClass of SSL_LAYER_CLASSES) tf.serialization.registerClass(layerClass);
}
