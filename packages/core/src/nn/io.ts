import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { SslError } from '../errors';
import type { AnyEncoder } from './create-encoder';
import type { Encoder } from './encoder';
import { ENCODER_METADATA_KEY, encoderFromArtifacts, encoderMetadata, type LoadEncoderOptions } from './encoder-io';
import { registerSslLayers } from './register';
import type { EncoderSpec } from './spec';

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';
export { ENCODER_METADATA_KEY } from './encoder-io';

function ioError(message: string, cause: unknown, file: string): SslError {
  return new SslError('io', `${message} (${file}): ${cause instanceof Error ? cause.message : String(cause)}`, {
    cause,
    details: { file },
  });
}

/** Writes `data` to `target` through a temporary file in the same directory and a rename. */
async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${target}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await fs.open(temporary, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, target);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw ioError('Could not write', error, target);
  }
}

/** The artifacts of `<dir>/model.json` + the weight files it lists (what `fileSystemIOHandler(dir).load` returns). */
async function readModelArtifacts(dir: string): Promise<tf.io.ModelArtifacts> {
  const modelPath = path.join(dir, MODEL_FILE);
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse(await fs.readFile(modelPath, 'utf8')) as tf.io.ModelJSON;
  } catch (error) {
    throw ioError('Could not read a tfjs model', error, modelPath);
  }
  if (modelJson.modelTopology === undefined || !Array.isArray(modelJson.weightsManifest)) {
    throw new SslError('io', `${modelPath} is not a tfjs LayersModel model.json (needs modelTopology and weightsManifest).`, {
      details: { file: modelPath },
    });
  }
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const relative of group.paths) {
      const weightsPath = path.join(dir, relative);
      try {
        const bytes = await fs.readFile(weightsPath);
        buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      } catch (error) {
        throw ioError('Could not read model weights', error, weightsPath);
      }
    }
  }
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: modelJson.modelTopology,
    format: modelJson.format,
    generatedBy: modelJson.generatedBy,
    convertedBy: modelJson.convertedBy,
    weightSpecs,
    weightData: tf.io.CompositeArrayBuffer.join(buffers),
  };
  if (modelJson.trainingConfig !== undefined) artifacts.trainingConfig = modelJson.trainingConfig;
  if (modelJson.userDefinedMetadata !== undefined) artifacts.userDefinedMetadata = modelJson.userDefinedMetadata;
  return artifacts;
}

/**
 * A tf.io IOHandler over node:fs writing/reading `<dir>/model.json` + `<dir>/weights.bin` in the standard
 * tfjs LayersModel format (what tfjs-node's file:// handler writes). Each file is written to a temporary
 * name and renamed into place; weights.bin goes first, so model.json never points at missing weights.
 * `extraMetadata` is merged into userDefinedMetadata on save.
 */
export function fileSystemIOHandler(dir: string, extraMetadata: Record<string, object> = {}): tf.io.IOHandler {
  return {
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new SslError('io', 'saveNetwork saves LayersModels (JSON topology); got a binary graph topology.');
      }
      try {
        await fs.mkdir(dir, { recursive: true });
      } catch (error) {
        throw ioError('Could not create the directory', error, dir);
      }
      const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const userDefinedMetadata = { ...(artifacts.userDefinedMetadata ?? {}), ...extraMetadata };
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig !== undefined) modelJson.trainingConfig = artifacts.trainingConfig;
      if (Object.keys(userDefinedMetadata).length > 0) modelJson.userDefinedMetadata = userDefinedMetadata;
      await writeFileAtomic(path.join(dir, WEIGHTS_FILE), new Uint8Array(weightData));
      await writeFileAtomic(path.join(dir, MODEL_FILE), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON({ ...artifacts, weightData, userDefinedMetadata }) };
    },
    load: () => readModelArtifacts(dir),
  };
}

/** Saves a LayersModel as `<dir>/model.json` + `<dir>/weights.bin` (standard tfjs format, written atomically per file). */
export async function saveNetwork(model: tfl.LayersModel, dir: string): Promise<void> {
  await model.save(fileSystemIOHandler(dir));
}

/** Loads a LayersModel saved by `saveNetwork` (or by tfjs-node / tfjs's converter) from `dir`. */
export async function loadNetwork(dir: string): Promise<tfl.LayersModel> {
  registerSslLayers();
  return tfl.loadLayersModel(fileSystemIOHandler(dir));
}

/** Saves the encoder's model with its EncoderSpec in model.json's userDefinedMetadata, so `loadEncoder` restores it. */
export async function saveEncoder(encoder: Encoder & { readonly spec: EncoderSpec }, dir: string): Promise<void> {
  await encoder.model.save(fileSystemIOHandler(dir, { [ENCODER_METADATA_KEY]: encoderMetadata(encoder) }));
}

/**
 * Loads an encoder saved by `saveEncoder` from `dir`. Core's kinds need nothing else; an encoder of a plugin's kind
 * (e.g. @ssl/masked's 'stacked-dae') is rebuilt by the definition in `options.encoders`
 * (`registry.parts().encoders`) and given the saved weights, checked against the network its spec builds.
 */
export async function loadEncoder(dir: string): Promise<AnyEncoder>;
export async function loadEncoder(dir: string, options: LoadEncoderOptions): Promise<Encoder>;
export async function loadEncoder(dir: string, options: LoadEncoderOptions = {}): Promise<AnyEncoder | Encoder> {
  const modelPath = path.join(dir, MODEL_FILE);
  const encoder = await encoderFromArtifacts(await readModelArtifacts(dir), modelPath, options);
  if (encoder === undefined) {
    throw new SslError('io', `${modelPath} has no encoder spec; it was not written by saveEncoder (use loadNetwork for plain models).`, {
      details: { file: modelPath },
    });
  }
  return encoder;
}
