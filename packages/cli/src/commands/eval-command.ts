import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  SslError,
  encoderView,
  initBackend,
  loadEncoder,
  type BackendName,
  type Encoder,
  type EncoderKindsOptions,
  type MethodHandle,
  type ImageDataset,
  type Registry,
} from '@ssl/core';
import type { CliIo } from '../cli-io';
import { evaluateEncoder, formatEvaluationTable, writeEmbeddingMap } from '../evaluate-encoder';
import { loadRunData } from '../load-run-data';
import { loadRegistry } from '../plugins';
import { describeDataSource, resolveDataSource, type DataSource } from '../options';
import { RUN_FILES, readRunEvaluation, type RunEvaluation } from '../report/read-run';
import { writeRunReport } from '../report/write-run-report';
import { DEFAULT_SEED } from './plan-training-run';

export interface EvalCommandOptions {
  encoderPath: string;
  data: string;
  backend?: BackendName;
  out?: string;
  verbose: boolean;
}

const ENCODER_DIR = 'encoder';
const MODEL_FILE = 'model.json';

/**
 * `ssl eval`: evaluates a saved encoder with the same protocol as the end of `ssl pretrain` (@ssl/eval's
 * `compareWithControls`: beside the same encoder spec and seed at random init, rebuilt from the spec saved
 * with the encoder, and raw pixels). Given a run directory and the data it was trained on, it updates that
 * run's eval.json, embedding map and report; other data is written to a sub-folder named after it, so the
 * run's own evaluation is never replaced by one on different data.
 */
export async function runEvalCommand(io: CliIo, options: EvalCommandOptions): Promise<void> {
  const { encoder, train, test, seed, outDir, kinds } = await openSavedEncoder(io, options, 'eval.json');
  const result = await evaluateEncoder(encoder, { train, test, seed }, kinds);
  await mkdir(outDir, { recursive: true });
  const evaluation = { ...result.evaluation, ...(await methodFigures(outDir)) };
  await writeFile(join(outDir, RUN_FILES.evaluation), `${JSON.stringify(evaluation, null, 2)}\n`);
  await writeEmbeddingMap(outDir, result);
  io.stdout.write(formatEvaluationTable(result));
  io.stdout.write(`\nwrote ${join(outDir, RUN_FILES.evaluation)}\n`);
  if (existsSync(join(outDir, RUN_FILES.config)) || existsSync(join(outDir, RUN_FILES.metrics))) {
    io.stdout.write(`wrote ${await writeRunReport(outDir)}\n`);
  }
}

/**
 * The figures of the run's own heads in its eval.json (its classifier, its held-out task), kept when `ssl eval`
 * rewrites the file: they were measured by `ssl pretrain` with networks a saved encoder does not carry.
 */
async function methodFigures(outDir: string): Promise<Pick<RunEvaluation, 'classifier' | 'heldOutTask'>> {
  const previous = await readRunEvaluation(outDir);
  return {
    ...(previous?.classifier ? { classifier: previous.classifier } : {}),
    ...(previous?.heldOutTask ? { heldOutTask: previous.heldOutTask } : {}),
  };
}

export interface SavedEncoderData {
  encoder: Encoder;
  /** Labeled images of --data the encoder is evaluated with (kNN bank, probe training set, active-learning pool). */
  train: ImageDataset;
  /** Held-out labeled images. */
  test: ImageDataset;
  /** The run's seed (the default without a run): the same folder split and label subsets as `ssl pretrain`. */
  seed: number;
  /** Where results go: --out, the run directory for its own data, else `<run>/eval-<data>/`. */
  outDir: string;
  /**
   * The encoder kinds of the CLI's registry (core + installed plugins), which loaded the encoder and rebuild its
   * random-init control (`randomInitControl(encoder, kinds)`), whether or not the run's method is installed.
   */
  kinds: EncoderKindsOptions;
}

/** What `ssl eval` and `ssl active` share: a saved encoder (run or encoder directory), the backend and labeled --data. */
export async function openSavedEncoder(
  io: CliIo,
  options: { encoderPath: string; data: string; backend?: BackendName; out?: string },
  writes: string,
): Promise<SavedEncoderData> {
  const { encoderDir, runDir } = locateEncoder(resolve(io.cwd, options.encoderPath));
  const source = await resolveDataSource(options.data, io.cwd);
  const run = runDir === undefined ? undefined : await readRunSettings(runDir);
  const outDir =
    options.out !== undefined ? resolve(io.cwd, options.out) : runDir && run ? evaluationDirectory(runDir, run.data, source) : undefined;
  if (outDir === undefined) {
    throw new SslError('invalid-config', `${encoderDir} is not inside a run directory; pass --out <dir> for ${writes}.`);
  }
  await initBackend({ backend: options.backend, log: (line) => io.stderr.write(`ssl: ${line}\n`) });
  // The registry `ssl pretrain` uses (core + installed plugins): a plugin's encoder kind loads through its definition.
  const { registry } = await loadRegistry(io.cwd);
  const kinds = { encoders: registry.parts().encoders };
  const encoder = await loadEncoder(encoderDir, kinds);
  const [height, width, encoderChannels] = encoder.inputShape as readonly number[];
  const runMethod = run?.method === undefined ? undefined : installedMethod(io, registry, run.method);
  const encoderInput = runMethod?.definition.encoderInput;
  // Folders and the emoji set are resized to the encoder's input; the MNISTs are 28×28×1 whatever it is. An
  // encoder that sees something derived from the images (colorization: lightness) gets it from the training images' channels.
  const channels = encoderInput ? (run?.channels ?? 3) : encoderChannels;
  const geometry = { size: height, channels: channels === 1 ? (1 as const) : (3 as const) };
  if (height !== width) throw new SslError('data', `a saved encoder must take square inputs here; this one expects ${height}×${width}.`);
  // The run's seed draws the same folder split and label subsets `ssl pretrain` evaluated with, so the figures agree.
  const seed = run?.seed ?? DEFAULT_SEED;
  const data = await loadRunData(source, { geometry, seed, needEvaluation: true });
  if (!data.evaluationTrain || !data.evaluationTest) {
    throw new SslError(
      'data',
      `--data ${options.data} has no labels to evaluate with; use a built-in dataset or a folder with one sub-folder per class.`,
    );
  }
  const seen = { encoderInput };
  return { encoder, train: encoderView(seen, data.evaluationTrain), test: encoderView(seen, data.evaluationTest), seed, outDir, kinds };
}

/** The run's method from the registry; a method whose plugin is not installed is undefined (its encoder is evaluated on the images as they are). */
function installedMethod(io: CliIo, registry: Registry, methodId: string): MethodHandle | undefined {
  try {
    return registry.create(methodId, {});
  } catch {
    io.stderr.write(`ssl: warning: ${methodId} is not installed here; its encoder is evaluated on the images as they are.\n`);
    return undefined;
  }
}

/**
 * Where `ssl eval` of a run writes: the run directory for the data the run was trained on, else
 * `<run>/eval-<data name>/` (a built-in dataset's name, a folder's base name).
 */
export function evaluationDirectory(runDir: string, runData: string | undefined, source: DataSource): string {
  const data = describeDataSource(source);
  if (runData === undefined || runData === data) return runDir;
  const name = basename(data);
  return join(runDir, `eval-${name.replace(/[^A-Za-z0-9._-]+/g, '-')}`);
}

/** The `seed` and `--data` of a run's config.json (DEFAULT_SEED and undefined when the file or a field is missing). */
export async function readRunSettings(runDir: string): Promise<{ seed: number; data?: string; method?: string; channels?: 1 | 3 }> {
  const path = join(runDir, RUN_FILES.config);
  if (!existsSync(path)) return { seed: DEFAULT_SEED };
  let config: unknown;
  try {
    config = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new SslError('io', `${path} is not valid JSON (${(error as Error).message}); ssl eval reads the run's seed from it.`, {
      cause: error,
    });
  }
  const { seed, method, invocation } = (typeof config === 'object' && config !== null ? config : {}) as {
    seed?: unknown;
    method?: unknown;
    invocation?: { data?: unknown; channels?: unknown };
  };
  const data = invocation?.data;
  const channels = invocation?.channels;
  return {
    seed: Number.isInteger(seed) ? (seed as number) : DEFAULT_SEED,
    ...(typeof data === 'string' ? { data } : {}),
    ...(typeof method === 'string' ? { method } : {}),
    ...(channels === 1 || channels === 3 ? { channels } : {}),
  };
}

/** Accepts a run directory (uses its encoder/) or an encoder directory (holds model.json). */
export function locateEncoder(path: string): { encoderDir: string; runDir?: string } {
  if (existsSync(join(path, ENCODER_DIR, MODEL_FILE))) return { encoderDir: join(path, ENCODER_DIR), runDir: path };
  if (existsSync(join(path, MODEL_FILE))) {
    const parent = dirname(path);
    const isRunEncoder = basename(path) === ENCODER_DIR && existsSync(join(parent, RUN_FILES.config));
    return { encoderDir: path, ...(isRunEncoder ? { runDir: parent } : {}) };
  }
  if (basename(dirname(path)) === 'checkpoints' || existsSync(join(path, 'checkpoints'))) {
    throw new SslError(
      'io',
      `${path} holds training checkpoints but no saved encoder (encoder/model.json); finish or resume the run (ssl pretrain ... --resume), which saves it.`,
    );
  }
  throw new SslError('io', `${path} is neither a run directory (with encoder/model.json) nor an encoder directory (with model.json).`);
}
