import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { SslError } from '../errors';
import type { EncoderDefinition } from '../registry/parts';
import type { AnyEncoder } from './create-encoder';
import { createEncoder } from './create-encoder';
import type { Encoder } from './encoder';
import { createPluginEncoder, pluginEncoderDefinition, type EncoderKindsOptions } from './plugin-encoder';
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

/**
 * Options of `loadEncoder` / `loadEncoderFrom`: the encoder kinds plugins register. A saved encoder of one of them
 * is rebuilt by its definition's `create(spec)` and given the saved weights.
 */
export type LoadEncoderOptions = EncoderKindsOptions;

/** The encoder metadata of saved model artifacts (model.json's userDefinedMetadata), or undefined when there is none. */
function artifactsEncoderMetadata(artifacts: tf.io.ModelArtifacts): EncoderMetadata | undefined {
  const metadata = (artifacts.userDefinedMetadata as Record<string, Partial<EncoderMetadata>> | undefined)?.[ENCODER_METADATA_KEY];
  return metadata?.format === 'ssl-encoder' && metadata.spec !== undefined ? (metadata as EncoderMetadata) : undefined;
}

/**
 * A weight's name without the numbers tfjs-layers appends to generated layer names (`dense_Dense12/kernel` →
 * `dense_Dense/kernel`): they count the layers made earlier in the process, so the network that saved the weights
 * and the one rebuilt from its spec in another process name the same layer differently.
 */
function layerAgnosticName(name: string): string {
  return name
    .split('/')
    .map((part) => part.replace(/_?\d+$/, ''))
    .join('/');
}

/**
 * A plugin's encoder rebuilt from its spec (`definition.create`) with the saved weights: they go to the new
 * network's weights in order, each checked for its name (up to layer-name numbering), shape and dtype first, so a
 * spec that does not build the saved network fails with SslError('io') instead of a network with wrong weights.
 */
function pluginEncoderFromArtifacts(
  definition: EncoderDefinition,
  spec: { readonly kind: string; readonly seed?: number },
  artifacts: tf.io.ModelArtifacts,
  source: string,
): Encoder {
  const encoder = createPluginEncoder(definition, spec);
  const targets = encoder.model.weights;
  const saved = artifacts.weightSpecs ?? [];
  const mismatch = (what: string): never => {
    encoder.model.dispose();
    throw new SslError(
      'io',
      `${source} does not hold the weights of the '${spec.kind}' encoder its spec builds: ${what}; was it saved by saveEncoder from this spec?`,
      { details: { file: source, kind: spec.kind } },
    );
  };
  if (saved.length !== targets.length) mismatch(`${saved.length} saved weights, the network has ${targets.length}`);
  saved.forEach((weight, i) => {
    const target = targets[i];
    const same =
      layerAgnosticName(weight.name) === layerAgnosticName(target.originalName) &&
      weight.dtype === target.dtype &&
      weight.shape.length === target.shape.length &&
      weight.shape.every((size, axis) => size === target.shape[axis]);
    if (!same) {
      mismatch(
        `weight ${i} is ${weight.name} ${weight.dtype} [${weight.shape.join(', ')}], the network's ${target.originalName} ${target.dtype} [${target.shape.join(', ')}]`,
      );
    }
  });
  // Decoded under their positions: two nested networks may hold layers of the same name, so names need not be unique.
  const values = tf.io.decodeWeights(
    artifacts.weightData ?? new ArrayBuffer(0),
    saved.map((weight, i) => ({ ...weight, name: String(i) })),
  );
  try {
    encoder.model.setWeights(saved.map((_, i) => values[String(i)]));
  } finally {
    tf.dispose(Object.values(values));
  }
  return encoder;
}

/**
 * The encoder that saved model artifacts hold, or undefined when they hold no encoder spec. A core kind wraps the
 * model tfjs deserializes from them (as `loadNetwork` does); a plugin's kind is built by its definition in
 * `options.encoders` and given the saved weights. `source` names the artifacts in errors, `usage` the loader's call
 * with `encoders` in the error for a plugin kind without its definition.
 */
export async function encoderFromArtifacts(
  artifacts: tf.io.ModelArtifacts,
  source: string,
  options: LoadEncoderOptions = {},
  usage = 'loadEncoder(dir, { encoders: registry.parts().encoders })',
): Promise<AnyEncoder | Encoder | undefined> {
  const metadata = artifactsEncoderMetadata(artifacts);
  if (metadata === undefined) return undefined;
  const kind = String((metadata.spec as { kind?: unknown }).kind);
  const definition = pluginEncoderDefinition(kind, options, { subject: `${source} holds`, usage, details: { file: source } });
  if (definition) return pluginEncoderFromArtifacts(definition, metadata.spec, artifacts, source);
  registerSslLayers();
  const model = await tfl.loadLayersModel({ load: () => Promise.resolve(artifacts) });
  return createEncoder(metadata.spec, model);
}

/** The handler tfjs-layers' `loadLayersModel` would load `source` with: a registered router's, else HTTP. */
function loadHandlerOf(source: string | tf.io.IOHandler): tf.io.IOHandler {
  if (typeof source !== 'string') return source;
  const handlers = tf.io.getLoadHandlers(source);
  if (handlers.length > 1) throw new SslError('io', `${source}: more than one tfjs load handler (${handlers.length}) takes this URL.`);
  // What loadLayersModel does for a string no router claims: a (relative) HTTP path.
  return handlers[0] ?? tf.io.http(source);
}

/**
 * Loads an encoder saved by `saveEncoder` (a run's `encoder/`) or `saveEncoderTo` from anything tfjs loads models
 * from: a URL (over `fetch`, in a page), or an IOHandler (a file picker's files through `tf.io.browserFiles`).
 * Core's kinds need nothing else; an encoder of a plugin's kind is rebuilt by the definition in `options.encoders`
 * (`registry.parts().encoders`) and given the saved weights, as `loadEncoder` does.
 */
export async function loadEncoderFrom(source: string | tf.io.IOHandler): Promise<AnyEncoder>;
export async function loadEncoderFrom(source: string | tf.io.IOHandler, options: LoadEncoderOptions): Promise<Encoder>;
export async function loadEncoderFrom(source: string | tf.io.IOHandler, options: LoadEncoderOptions = {}): Promise<AnyEncoder | Encoder> {
  const name = typeof source === 'string' ? source : 'the model';
  const handler = loadHandlerOf(source);
  if (handler.load === undefined) throw new SslError('io', `${name}: the IOHandler has no load method; loadEncoderFrom reads models.`);
  const usage = 'loadEncoderFrom(source, { encoders: registry.parts().encoders })';
  const encoder = await encoderFromArtifacts(await handler.load(), name, options, usage);
  if (encoder === undefined) {
    throw new SslError('io', `${name} has no encoder spec: it was not written by saveEncoder (a run's encoder/ is).`);
  }
  return encoder;
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
