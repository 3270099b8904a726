import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SslError } from '@ssl/core';

/** The command line a run was started with, as config.json's `invocation` keeps it (CLI vocabulary). */
export interface RunInvocation {
  /** `--data` as resolved: a built-in dataset name or an absolute path. */
  data: string;
  encoder: string;
  imageSize: number;
  channels: 1 | 3;
  labelsPerClass: number | null;
  /** `--audio` as resolved (image–audio methods): 'spoken-classes-sample' or an absolute path; absent before it existed. */
  audio?: string | null;
  /** The method options (`"method"` of --config). */
  method: Record<string, unknown>;
  /** `"encoderOptions"` of --config (fields replaced in the --encoder preset); absent before it existed. */
  encoderOptions?: Record<string, unknown> | null;
  /** `--text-tower` as resolved (clip:clip started from a masked:mlm run); absent when not given. */
  textTower?: string;
  /** `ssl semisup --init` as resolved (the `ssl pretrain` run the encoder started from); absent when not given. */
  init?: string;
}

/** What a run directory holds, read without loading any checkpoint. */
export interface SavedRun {
  /** config.json: what the trainer ran (method, config, epochs, batchSize, optimizer, seed, ...). */
  config: SavedRunConfig;
  invocation?: RunInvocation;
  hasCheckpoints: boolean;
  /** The run trained all its epochs, or all its --steps (its last epoch or step record is in metrics.jsonl). */
  finished: boolean;
}

export interface SavedRunConfig {
  method: string;
  config: Record<string, unknown>;
  epochs: number;
  rounds: number;
  batchSize: number;
  optimizer: { kind: string; lr: number };
  seed: number;
  invocation?: RunInvocation;
}

const CHECKPOINT_DIR = /^step-\d+$/;

/** Reads the run in `outDir`, or undefined when the directory holds none (no config.json). */
export function readSavedRun(outDir: string): SavedRun | undefined {
  const configPath = join(outDir, 'config.json');
  if (!existsSync(configPath)) return undefined;
  let config: SavedRunConfig;
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8')) as SavedRunConfig;
  } catch (error) {
    throw new SslError(
      'io',
      `${configPath} is not valid JSON (${(error as Error).message}); pass --overwrite to start a new run there, or choose another --out.`,
    );
  }
  const checkpointsDir = join(outDir, 'checkpoints');
  const hasCheckpoints = existsSync(checkpointsDir) && readdirSync(checkpointsDir).some((name) => CHECKPOINT_DIR.test(name));
  return {
    config,
    invocation: config.invocation,
    hasCheckpoints,
    finished: hasFinished(outDir, config),
  };
}

/**
 * A run sized by epochs has finished once its last epoch is logged. One capped by --steps (`maxSteps`) stops at its
 * last step, usually mid-epoch (its epochs are only a ceiling), so its last step record is what marks the end.
 */
function hasFinished(outDir: string, config: SavedRunConfig): boolean {
  const { epoch, step } = lastLogged(outDir);
  const { maxSteps } = config as { maxSteps?: number | null };
  if (typeof maxSteps === 'number' && step >= maxSteps - 1) return true;
  return epoch >= config.epochs * (config.rounds ?? 1) - 1;
}

function lastLogged(outDir: string): { epoch: number; step: number } {
  const path = join(outDir, 'metrics.jsonl');
  const last = { epoch: -1, step: -1 };
  if (!existsSync(path)) return last;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    try {
      const record = JSON.parse(line) as { type?: string; epoch?: number; step?: number };
      if (record.type === 'epoch' && typeof record.epoch === 'number') last.epoch = Math.max(last.epoch, record.epoch);
      if (record.type === 'step' && typeof record.step === 'number') last.step = Math.max(last.step, record.step);
    } catch {
      // blank or torn line
    }
  }
  return last;
}

/** The settings of a resumed run: flags first, the saved run's values for the flags left out. */
export interface ResumeSettings {
  data?: string;
  encoder?: string;
  encoderOptions?: Record<string, unknown>;
  imageSize?: number;
  channels?: 1 | 3;
  labelsPerClass?: number;
  audio?: string;
  method?: Record<string, unknown>;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
}

/**
 * config.json is the truth of a run: a flag left out takes the run's value, a flag that disagrees with it is
 * refused with every disagreement named (in flags), and `--epochs` may only grow, with `--extend`.
 */
export function settingsForResume(
  outDir: string,
  saved: SavedRun,
  given: ResumeSettings & { methodId: string; extend: boolean; resolvedData?: string },
): Required<Pick<ResumeSettings, 'epochs' | 'batchSize' | 'lr' | 'seed'>> & ResumeSettings {
  const { config, invocation } = saved;
  if (config.method !== given.methodId) {
    throw new SslError(
      'invalid-config',
      `--out ${outDir} holds a ${config.method} run, not ${given.methodId}; resume it with \`ssl ${'pretrain'} ${config.method}\` or choose another --out.`,
    );
  }
  const conflicts: string[] = [];
  const check = (flag: string, value: unknown, savedValue: unknown, show: (v: unknown) => string = String) => {
    if (value !== undefined && savedValue !== undefined && JSON.stringify(value) !== JSON.stringify(savedValue)) {
      conflicts.push(`${flag} ${show(value)} (the run's is ${show(savedValue)})`);
    }
  };
  check('--data', given.resolvedData, invocation?.data);
  check('--encoder', given.encoder, invocation?.encoder);
  check('--config "encoderOptions"', given.encoderOptions, invocation?.encoderOptions ?? undefined, (v) => JSON.stringify(v));
  check('--image-size', given.imageSize, invocation?.imageSize);
  check('--channels', given.channels, invocation?.channels);
  check('--labels-per-class', given.labelsPerClass, invocation?.labelsPerClass ?? undefined);
  check('--audio', given.audio, invocation?.audio ?? undefined);
  check('--batch-size', given.batchSize, config.batchSize);
  check('--lr', given.lr, config.optimizer?.lr);
  check('--seed', given.seed, config.seed);
  check('--config "method"', given.method, invocation?.method, (v) => JSON.stringify(v));
  let epochsNote: string | undefined;
  if (given.epochs !== undefined && given.epochs !== config.epochs) {
    if (given.epochs < config.epochs) {
      conflicts.push(`--epochs ${given.epochs} (the run's is ${config.epochs}; a run's epochs only grow)`);
    } else if ((config.rounds ?? 1) > 1) {
      conflicts.push(
        `--epochs ${given.epochs} (the run's is ${config.epochs}; ${config.method} trains in rounds, whose length cannot change)`,
      );
    } else if (!given.extend) {
      epochsNote =
        (saved.finished
          ? `the run finished its ${plural(config.epochs, 'epoch')}`
          : `the run is planned for ${plural(config.epochs, 'epoch')}`) +
        `; to train it to ${given.epochs} epochs add --extend (the learning-rate schedule is then re-planned for ${given.epochs} epochs: ` +
        `it rises from its current value to where a ${given.epochs}-epoch schedule is at this step and decays to its end again)`;
    }
  }
  if (conflicts.length > 0) {
    throw new SslError(
      'invalid-config',
      `--resume: ${conflicts.join(', ')} ${conflicts.length === 1 ? 'disagrees' : 'disagree'} with the run in ${outDir}. ` +
        "Leave these flags out to resume with the run's settings, or start a new run with --overwrite or another --out.",
      { details: { conflicts } },
    );
  }
  if (epochsNote) throw new SslError('invalid-config', `--resume --epochs ${given.epochs}: ${epochsNote}.`);
  if (given.extend && !(given.epochs !== undefined && given.epochs > config.epochs)) {
    throw new SslError('invalid-config', `--extend needs --epochs greater than the run's ${config.epochs}.`);
  }
  return {
    data: given.data ?? invocation?.data,
    encoder: given.encoder ?? invocation?.encoder,
    encoderOptions: given.encoderOptions ?? invocation?.encoderOptions ?? undefined,
    imageSize: given.imageSize ?? invocation?.imageSize,
    channels: given.channels ?? invocation?.channels,
    labelsPerClass: given.labelsPerClass ?? invocation?.labelsPerClass ?? undefined,
    audio: given.audio ?? invocation?.audio ?? undefined,
    method: given.method ?? invocation?.method ?? config.config,
    epochs: given.epochs ?? config.epochs,
    batchSize: given.batchSize ?? config.batchSize,
    lr: given.lr ?? config.optimizer.lr,
    seed: given.seed ?? config.seed,
  };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
