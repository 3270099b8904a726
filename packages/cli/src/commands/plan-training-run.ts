import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BACKEND_NAMES, SslError, closestMatch, validateEncoderSpec, type BackendName, type EncoderSpec, type MethodHandle, type Registry } from '@ssl/core';
import { checkEncoderChoice, encoderSpecFor } from '../encoder-choice';
import { DEFAULT_IMAGE_GEOMETRY, inputShapeOf, type ImageGeometry } from '../load-run-data';
import { NAMED_DATASETS, readRunConfigFile, resolveDataSource, type DataSource, type RunConfigFile } from '../options';

/** Flags shared by `ssl pretrain` and `ssl semisup`, as commander parses them. */
export interface TrainingFlags {
  data?: string;
  encoder?: string;
  imageSize?: number;
  channels?: 1 | 3;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  backend?: BackendName;
  out?: string;
  config?: string;
  resume?: boolean;
  /** `--no-eval` sets this to false. */
  eval?: boolean;
  labelsPerClass?: number;
}

export type TrainingMode = 'pretrain' | 'semisup';

/** Everything a run needs, checked before any data is loaded or any weight is created. */
export interface TrainingPlan {
  mode: TrainingMode;
  method: MethodHandle;
  data: DataSource;
  geometry: ImageGeometry;
  encoder: EncoderSpec;
  /** Undefined fields fall back to the method's training defaults, then the trainer's. */
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed: number;
  backend?: BackendName;
  outDir: string;
  resume: boolean;
  evaluate: boolean;
  labelsPerClass?: number;
}

/** Seed used when neither --seed nor the config file sets one, so two plain runs are comparable. */
export const DEFAULT_SEED = 0;

/**
 * Validates a pretrain/semisup invocation: config file, data path, method name and method config (through
 * the registry's `defaults` + `validate`), method/data compatibility and the run directory. Throws an
 * SslError naming the problem; nothing is trained or written.
 */
export async function planTrainingRun(
  registry: Registry,
  cwd: string,
  request: { mode: TrainingMode; method: string; flags: TrainingFlags; now?: Date },
): Promise<TrainingPlan> {
  const { mode, flags } = request;
  const file: RunConfigFile = flags.config === undefined ? {} : await readRunConfigFile(flags.config, cwd);
  const dataArgument = flags.data ?? file.data;
  if (dataArgument === undefined) {
    throw new SslError('invalid-config', `pass --data <${NAMED_DATASETS.join(' | ')} | folder | pairs.jsonl> (or "data" in --config).`);
  }
  const data = await resolveDataSource(dataArgument, cwd);
  // registry.create resolves bare names, throws 'unknown-method' with a suggestion, and validates the config.
  const method = registry.create(request.method, file.method ?? {});
  const dataKind = method.definition.data;

  if (mode === 'pretrain' && dataKind === 'semi-supervised') {
    throw new SslError('invalid-config', `${method.id} is semi-supervised; run it with \`ssl semisup ${method.id} --labels-per-class <k> ...\`.`);
  }
  if (mode === 'semisup' && dataKind !== 'semi-supervised') {
    throw new SslError('invalid-config', `${method.id} is not a semi-supervised method (it trains on ${dataKind} data); use \`ssl pretrain ${method.id}\`.`);
  }
  if (dataKind === 'image-text' && data.kind !== 'image-text-pairs') {
    throw new SslError('data', `${method.id} trains on image–text pairs; pass --data <pairs.jsonl> (one {"image": ..., "text": ...} per line).`);
  }
  if (dataKind !== 'image-text' && data.kind === 'image-text-pairs') {
    throw new SslError('data', `${method.id} trains on images; --data ${data.path} is a .jsonl of image–text pairs, which only image-text methods (clip:*) use.`);
  }
  if (mode === 'semisup' && flags.labelsPerClass === undefined) {
    throw new SslError('invalid-config', '`ssl semisup` needs --labels-per-class <k>.');
  }

  const geometry: ImageGeometry = {
    size: flags.imageSize ?? DEFAULT_IMAGE_GEOMETRY.size,
    channels: flags.channels ?? DEFAULT_IMAGE_GEOMETRY.channels,
  };
  const encoder = encoderSpecFor(checkEncoderChoice(flags.encoder ?? file.encoder ?? 'cnn'), inputShapeOf(data, geometry));
  validateEncoderSpec(encoder);

  const outDir = resolve(cwd, flags.out ?? defaultRunDirectory(method.id, request.now ?? new Date()));
  const resume = flags.resume === true;
  await checkRunDirectory(outDir, resume);

  return {
    mode,
    method,
    data,
    geometry,
    encoder,
    epochs: flags.epochs ?? file.epochs,
    batchSize: flags.batchSize ?? file.batchSize,
    lr: flags.lr ?? file.lr,
    seed: flags.seed ?? file.seed ?? DEFAULT_SEED,
    backend: flags.backend ?? checkBackendName(file.backend),
    outDir,
    resume,
    evaluate: flags.eval !== false,
    ...(flags.labelsPerClass === undefined ? {} : { labelsPerClass: flags.labelsPerClass }),
  };
}

/** `runs/contrastive-simclr-20250101-120000`: sortable, and ':' is not allowed in Windows paths. */
export function defaultRunDirectory(methodId: string, now: Date): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  return join('runs', `${methodId.replace(/[^a-z0-9-]+/gi, '-')}-${stamp}`);
}

/** A finished or running run is never overwritten silently; --resume requires checkpoints to resume from. */
async function checkRunDirectory(outDir: string, resume: boolean): Promise<void> {
  const hasMetrics = existsSync(join(outDir, 'metrics.jsonl'));
  const checkpointsDir = join(outDir, 'checkpoints');
  const hasCheckpoints = existsSync(checkpointsDir) && (await readdir(checkpointsDir)).length > 0;
  if (resume && !hasCheckpoints) {
    throw new SslError('checkpoint', `--resume: ${outDir} has no checkpoints to resume from; drop --resume to start a new run there.`);
  }
  if (!resume && (hasMetrics || hasCheckpoints)) {
    throw new SslError('io', `${outDir} already holds a run; pass --resume to continue it or choose another --out.`);
  }
}

function checkBackendName(name: string | undefined): BackendName | undefined {
  if (name === undefined || (BACKEND_NAMES as readonly string[]).includes(name)) return name as BackendName | undefined;
  const suggestion = closestMatch(name, BACKEND_NAMES);
  throw new SslError(
    'invalid-config',
    `--config "backend": ${JSON.stringify(name)} is not a backend; choose one of ${BACKEND_NAMES.join(', ')}.` + (suggestion ? ` Did you mean "${suggestion}"?` : ''),
  );
}
