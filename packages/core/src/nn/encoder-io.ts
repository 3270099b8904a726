import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { SslError } from '../errors';
import type { AnyEncoder } from './create-encoder';
import { createEncoder } from './create-encoder';
import type { Encoder } from './encoder';
import { registerSslLayers } from './register';
import type { EncoderSpec } from './spec';

/** Key under model.json's userDefinedMetadata where a saved encoder keeps its EncoderSpec. */
export const ENCODER_METADATA_KEY = 'sslEncoder';

/** What is stored under ENCODER_METADATA_KEY: the spec that rebuilds the same Encoder class around the model. */
export interface EncoderMetadata {
  format: 'ssl-encoder';
  version: 1;
  spec: EncoderSpec;
}

export function encoderMetadata(encoder: Encoder & { readonly spec: EncoderSpec }): EncoderMetadata {
  return { format: 'ssl-encoder', version: 1, spec: encoder.spec };
}

/** The encoder metadata of a loaded model, or undefined when it was not saved as an encoder. */
export function readEncoderMetadata(model: tfl.LayersModel): EncoderMetadata | undefined {
  const metadata = (model.getUserDefinedMetadata() as Record<string, Partial<EncoderMetadata>> | undefined)?.[ENCODER_METADATA_KEY];
  return metadata?.format === 'ssl-encoder' && metadata.spec !== undefined ? (metadata as EncoderMetadata) : undefined;
}

/**
 * Loads an encoder saved by `saveEncoder` (a run's `encoder/`) or `saveEncoderTo` from anything tfjs loads models
 * from: a URL (over `fetch`, in a page), or an IOHandler (a file picker's files through `tf.io.browserFiles`).
 * The custom layers are registered first; the spec in the metadata rebuilds the same Encoder class.
 */
export async function loadEncoderFrom(source: string | tf.io.IOHandler): Promise<AnyEncoder> {
  registerSslLayers();
  const model = await tfl.loadLayersModel(source);
  const metadata = readEncoderMetadata(model);
  if (!metadata) {
    model.dispose();
    const name = typeof source === 'string' ? source : 'the model';
    throw new SslError('io', `${name} has no encoder spec: it was not written by saveEncoder (a run's encoder/ is).`);
  }
  return createEncoder(metadata.spec, model);
}

/**
 * Saves an encoder as `saveEncoder` does (a tfjs LayersModel whose metadata holds its spec) to any tfjs
 * destination: `downloads://model` in a page gives model.json + model.weights.bin, which Node's `loadEncoder`
 * (a directory holding them) and `loadEncoderFrom` read back.
 */
export async function saveEncoderTo(
  encoder: Encoder & { readonly spec: EncoderSpec },
  destination: string | tf.io.IOHandler,
): Promise<void> {
  const previous = encoder.model.getUserDefinedMetadata();
  encoder.model.setUserDefinedMetadata({ ...(previous ?? {}), [ENCODER_METADATA_KEY]: encoderMetadata(encoder) });
  await encoder.model.save(destination);
}
