import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { SslError } from '../errors';
import type { AnyEncoder } from '../nn/create-encoder';
import { CORE_VERSION } from '../version';
import { pytorchModuleSource } from './pytorch-module';
import { pytorchStateDict, type PyTorchArchitecture } from './pytorch-state-dict';
import { serializeSafetensors } from '../train/safetensors';

/** 'safetensors': the weights in PyTorch names and layouts + encoder.json; 'pytorch': also the module definition (ssl_encoder.py). */
export type EncoderExportFormat = 'safetensors' | 'pytorch';
export const ENCODER_EXPORT_FORMATS: readonly EncoderExportFormat[] = ['safetensors', 'pytorch'];

/** File names an export writes in its directory. */
export const EXPORT_FILES = {
  weights: 'encoder.safetensors',
  manifest: 'encoder.json',
  module: 'ssl_encoder.py',
} as const;

/** encoder.json: what the weights are and what input they expect, for readers other than the generated module. */
export interface EncoderExportManifest {
  format: 'ssl-pytorch-export';
  version: 1;
  generatedBy: string;
  /** The @ssl encoder spec the weights belong to. */
  spec: AnyEncoder['spec'];
  architecture: PyTorchArchitecture;
  featureDim: number;
  /**
   * The input the encoder was trained on. Images: @ssl's tensors are [N, H, W, C] (NHWC), PyTorch's
   * [N, C, H, W]; pixels are bytes divided by 255, with no mean/std normalisation.
   */
  input:
    | {
        kind: 'image';
        layout: 'NCHW';
        sourceLayout: 'NHWC';
        channels: number;
        height: number;
        width: number;
        scale: number;
        mean: null;
        std: null;
      }
    | { kind: 'vector'; features: number };
  /** Each tensor's PyTorch name and shape, and the tfjs weight it came from. */
  tensors: { name: string; dtype: string; shape: number[]; source: string }[];
}

export interface EncoderExportOptions {
  format?: EncoderExportFormat;
  /** Written as every batch norm's num_batches_tracked (tfjs keeps no such count): the run's step count. Default 0. */
  batchesTracked?: number;
  /** Who made the export, for encoder.json and the module's docstring. */
  generatedBy?: string;
}

export interface EncoderExportResult {
  dir: string;
  /** Absolute paths of the files written. */
  files: string[];
  tensors: number;
  /** Trainable values (running statistics and counters excluded), to compare with PyTorch's parameter count. */
  parameters: number;
}

/**
 * Writes the encoder for PyTorch into `dir`: `encoder.safetensors` (torchvision's names for ResNets; conv
 * kernels OIHW, linear weights [out, in], batch norms with running statistics and num_batches_tracked),
 * `encoder.json`, and with format 'pytorch' `ssl_encoder.py`, whose `load_encoder()` loads the weights with
 * `load_state_dict(strict=True)`. Covers the CNN, ResNet-18/34/50 and MLP encoders.
 */
export async function exportEncoder(encoder: AnyEncoder, dir: string, options: EncoderExportOptions = {}): Promise<EncoderExportResult> {
  const format = options.format ?? 'pytorch';
  if (!ENCODER_EXPORT_FORMATS.includes(format)) {
    throw new SslError('invalid-config', `Unknown export format '${String(format)}'; use one of ${ENCODER_EXPORT_FORMATS.join(', ')}.`);
  }
  const generatedBy = options.generatedBy ?? `@ssl/core ${CORE_VERSION}`;
  const stateDict = pytorchStateDict(encoder, { batchesTracked: options.batchesTracked });
  const spec = encoder.spec;
  const input: EncoderExportManifest['input'] =
    spec.kind === 'mlp'
      ? { kind: 'vector', features: spec.inputDim }
      : {
          kind: 'image',
          layout: 'NCHW',
          sourceLayout: 'NHWC',
          channels: encoder.inputShape[2] as number,
          height: encoder.inputShape[0] as number,
          width: encoder.inputShape[1] as number,
          scale: 1 / 255,
          mean: null,
          std: null,
        };
  const manifest: EncoderExportManifest = {
    format: 'ssl-pytorch-export',
    version: 1,
    generatedBy,
    spec,
    architecture: stateDict.architecture,
    featureDim: stateDict.featureDim,
    input,
    tensors: stateDict.tensors.map(({ name, dtype, shape, source }) => ({ name, dtype, shape: [...shape], source })),
  };
  // "format": "pt" is the key Hugging Face's tools read to know the names are PyTorch's.
  const weights = serializeSafetensors(stateDict.tensors, { format: 'pt', 'ssl.encoder': JSON.stringify(spec) });
  const files: [string, string | Uint8Array][] = [
    [EXPORT_FILES.weights, weights],
    [EXPORT_FILES.manifest, `${JSON.stringify(manifest, null, 2)}\n`],
  ];
  if (format === 'pytorch') {
    files.push([
      EXPORT_FILES.module,
      pytorchModuleSource({ architecture: stateDict.architecture, weightsFile: EXPORT_FILES.weights, generatedBy }),
    ]);
  }
  const written: string[] = [];
  try {
    await fs.mkdir(dir, { recursive: true });
    for (const [name, data] of files) {
      const target = path.join(dir, name);
      await fs.writeFile(target, data);
      written.push(path.resolve(target));
    }
  } catch (error) {
    throw new SslError('io', `Could not write the export to ${dir}: ${(error as Error).message}`, { cause: error, details: { file: dir } });
  }
  const parameters = stateDict.tensors
    .filter((t) => t.dtype === 'F32' && !/\.running_(mean|var)$/.test(t.name))
    .reduce((sum, t) => sum + t.values.length, 0);
  return { dir: path.resolve(dir), files: written, tensors: stateDict.tensors.length, parameters };
}
