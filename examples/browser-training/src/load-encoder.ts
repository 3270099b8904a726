import * as tfl from '@tensorflow/tfjs-layers';
import { SslError, createEncoder, registerSslLayers } from '@ssl/core';
import type { AnyEncoder, EncoderSpec } from '@ssl/core';

/**
 * The key under model.json's userDefinedMetadata where core's `saveEncoder` (every run's `encoder/`) keeps the
 * EncoderSpec; core exports it from its Node entry only (nn/io.ts reads files), so it is repeated here.
 */
const ENCODER_METADATA_KEY = 'sslEncoder';

/**
 * Loads an encoder a Node run saved (`<run>/encoder/`: model.json + weights.bin, the standard tfjs LayersModel
 * format) from a URL, over `fetch`: the custom layers are registered first, then the spec in the metadata
 * rebuilds the same Encoder class as Node's `loadEncoder`.
 */
export async function loadEncoderFromUrl(modelJsonUrl: string): Promise<AnyEncoder> {
  registerSslLayers();
  const model = await tfl.loadLayersModel(modelJsonUrl);
  const metadata = (model.getUserDefinedMetadata() as Record<string, { format?: string; spec?: EncoderSpec }> | undefined)?.[
    ENCODER_METADATA_KEY
  ];
  if (metadata?.format !== 'ssl-encoder' || metadata.spec === undefined) {
    model.dispose();
    throw new SslError('io', `${modelJsonUrl} has no encoder spec: it was not written by saveEncoder (a run's encoder/ is).`);
  }
  return createEncoder(metadata.spec, model);
}
