import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { SslError, createEncoder, registerSslLayers } from '@ssl/core';
import type { AnyEncoder, Encoder, EncoderSpec } from '@ssl/core';

/**
 * The key under model.json's userDefinedMetadata where core's `saveEncoder` (every run's `encoder/`) keeps the
 * EncoderSpec, and the record it writes there; core exports them from its Node entry only (nn/io.ts reads
 * files), so they are repeated here.
 */
const ENCODER_METADATA_KEY = 'sslEncoder';
interface EncoderMetadata {
  format: 'ssl-encoder';
  version: 1;
  spec: EncoderSpec;
}

/**
 * Loads an encoder a Node run saved (`<run>/encoder/`: model.json + weights.bin, the standard tfjs LayersModel
 * format), or one a page saved with `saveEncoderTo`, from a URL (over `fetch`) or any tfjs IOHandler (a file
 * picker's files through `tf.io.browserFiles`): the custom layers are registered first, then the spec in the
 * metadata rebuilds the same Encoder class as Node's `loadEncoder`.
 */
export async function loadEncoderFrom(source: string | tf.io.IOHandler): Promise<AnyEncoder> {
  registerSslLayers();
  const model = await tfl.loadLayersModel(source);
  const metadata = (model.getUserDefinedMetadata() as Record<string, Partial<EncoderMetadata>> | undefined)?.[ENCODER_METADATA_KEY];
  if (metadata?.format !== 'ssl-encoder' || metadata.spec === undefined) {
    model.dispose();
    const name = typeof source === 'string' ? source : 'the model';
    throw new SslError('io', `${name} has no encoder spec: it was not written by saveEncoder (a run's encoder/ is).`);
  }
  return createEncoder(metadata.spec, model);
}

/**
 * Saves an encoder as Node's `saveEncoder` does (a tfjs LayersModel whose metadata holds its spec), to any tfjs
 * destination: `downloads://model` in a page gives model.json + model.weights.bin, which Node's `loadEncoder`
 * (a directory holding them) and `loadEncoderFrom` read back.
 */
export async function saveEncoderTo(
  encoder: Encoder & { readonly spec: EncoderSpec },
  destination: string | tf.io.IOHandler,
): Promise<void> {
  const metadata: EncoderMetadata = { format: 'ssl-encoder', version: 1, spec: encoder.spec };
  const previous = encoder.model.getUserDefinedMetadata();
  encoder.model.setUserDefinedMetadata({ ...(previous ?? {}), [ENCODER_METADATA_KEY]: metadata });
  await encoder.model.save(destination);
}
