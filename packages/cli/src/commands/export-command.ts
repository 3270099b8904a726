import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import {
  CnnEncoder,
  EXPORT_FILES,
  MlpEncoder,
  PRODUCTS_DIR,
  PRODUCTS_INDEX,
  PYTORCH_EXPORT_KINDS,
  ResNetEncoder,
  SslError,
  TextTransformerEncoder,
  VitEncoder,
  exportEncoder,
  initBackend,
  loadEncoder,
  type AnyEncoder,
  type BackendName,
  type Encoder,
  type EncoderExportFormat,
} from '@ssl/core';
import type { CliIo } from '../cli-io';
import { loadRegistry } from '../plugins';
import { CLI_VERSION } from '../version';
import { locateEncoder } from './eval-command';

export interface ExportCommandOptions {
  /** A run directory, its encoder/ folder or any encoder directory saved by saveEncoder. */
  encoderPath: string;
  format: EncoderExportFormat;
  out: string;
  backend?: BackendName;
}

/**
 * Global steps the run had completed when it saved its encoder, when known: products/index.json keeps it for
 * methods with products; otherwise the newest checkpoint's step (every run checkpoints when it ends).
 */
function runSteps(runDir: string | undefined): number | undefined {
  if (runDir === undefined) return undefined;
  const indexPath = join(runDir, PRODUCTS_DIR, PRODUCTS_INDEX);
  if (existsSync(indexPath)) {
    try {
      const step = (JSON.parse(readFileSync(indexPath, 'utf8')) as { step?: unknown }).step;
      if (Number.isInteger(step)) return step as number;
    } catch {
      // The count only fills num_batches_tracked: a damaged index does not stop the export.
    }
  }
  const checkpoints = join(runDir, 'checkpoints');
  if (!existsSync(checkpoints)) return undefined;
  const steps = readdirSync(checkpoints).flatMap((name) => /^step-(\d+)$/.exec(name)?.slice(1).map(Number) ?? []);
  return steps.length > 0 ? Math.max(...steps) : undefined;
}

/** Core's encoder classes; exportEncoder refuses those it has no PyTorch mapping for (vit, text) itself. */
function isCoreEncoder(encoder: Encoder): encoder is AnyEncoder {
  return [CnnEncoder, ResNetEncoder, VitEncoder, MlpEncoder, TextTransformerEncoder].some((coreClass) => encoder instanceof coreClass);
}

/**
 * `ssl export`: writes a saved encoder for PyTorch: `encoder.safetensors` (PyTorch names and layouts) and
 * `encoder.json`, plus with `--format pytorch` the module definition `ssl_encoder.py` that loads them with
 * `load_state_dict(strict=True)`. The hand-off to multi-GPU training (DDP / FSDP) and to serving.
 */
export async function runExportCommand(io: CliIo, options: ExportCommandOptions): Promise<void> {
  const { encoderDir, runDir } = locateEncoder(resolve(io.cwd, options.encoderPath));
  const outDir = resolve(io.cwd, options.out);
  await initBackend({ backend: options.backend, log: (line) => io.stderr.write(`ssl: ${line}\n`) });
  // The registry `ssl pretrain` uses, so a plugin's encoder kind loads (and is then refused below by name, not as unknown).
  const { registry } = await loadRegistry(io.cwd);
  const encoder = await loadEncoder(encoderDir, { encoders: registry.parts().encoders });
  try {
    if (!isCoreEncoder(encoder)) {
      throw new SslError(
        'invalid-config',
        `ssl export writes ${PYTORCH_EXPORT_KINDS.join(', ')} encoders; ${relative(io.cwd, encoderDir) || '.'} holds a '${encoder.kind}' encoder, a plugin's kind with no PyTorch mapping: use it from JavaScript (loadEncoder(dir, { encoders: registry.parts().encoders })).`,
      );
    }
    const result = await exportEncoder(encoder, outDir, {
      format: options.format,
      batchesTracked: runSteps(runDir),
      generatedBy: `ssl export ${options.encoderPath} (@ssl/cli ${CLI_VERSION})`,
    });
    const shown = (path: string) => relative(io.cwd, path) || '.';
    io.stdout.write(
      `exported the ${encoder.kind} encoder (${result.parameters.toLocaleString('en-US')} parameters, ${result.tensors} tensors) to ${shown(outDir)}\n`,
    );
    for (const file of result.files) io.stdout.write(`  ${shown(file)}\n`);
    if (options.format === 'pytorch') {
      const use = encoder.kind === 'mlp' ? 'encoder(vectors)' : 'encoder(ssl_encoder.preprocess(images))  # uint8 [N, H, W, C]';
      io.stdout.write(
        `in PyTorch (from ${shown(outDir)}):\n  import ssl_encoder\n  encoder = ssl_encoder.load_encoder()  # eval mode\n  features = ${use}\n`,
      );
    } else {
      io.stdout.write(`${EXPORT_FILES.manifest} lists each tensor's PyTorch name and the input the encoder expects.\n`);
    }
  } finally {
    encoder.model.dispose();
  }
}
