import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SslError, type MethodHandle, type Registry } from '@ssl/core';
import { readSavedRun, type SavedRun } from './saved-run';

/**
 * What `ssl semisup` compares the method's classifier with: its own supervised-only ablation trained after it
 * (the default), nothing (--no-control), or the figure of a supervised-only run already finished (--control
 * <run>), so that one control per seed serves every method of a benchmark instead of one per method.
 */
export type SupervisedControl = { kind: 'own' } | { kind: 'none' } | { kind: 'run'; runDir: string; accuracy: number };

/** This run's settings a shared control must have been trained with, in the CLI's vocabulary. */
export interface ControlledSettings {
  data: string;
  labelsPerClass: number | undefined;
  seed: number;
  encoder: string;
  encoderOptions: Record<string, unknown> | undefined;
  imageSize: number;
  channels: number;
  batchSize: number | undefined;
  lr: number | undefined;
  epochs: number | undefined;
  steps: number | undefined;
  /** --init (absolute path): a control for a run started from a self-supervised encoder starts from the same one. */
  init: string | undefined;
}

/** config.json's `maxSteps` (null or absent: the run trained its epochs). */
export function savedMaxSteps(saved: SavedRun): number | undefined {
  const { maxSteps } = saved.config as { maxSteps?: number | null };
  return maxSteps ?? undefined;
}

/**
 * `--steps`: a global step cap over which the lr schedule is planned. A method that trains in rounds would have
 * its later rounds cut short (its rounds are sized by --epochs per round), so it is refused there; on --resume
 * it must be the run's own.
 */
export function checkStepsFlag(
  steps: number | undefined,
  method: MethodHandle,
  saved: SavedRun | undefined,
  resume: boolean,
): number | undefined {
  const rounds = method.definition.rounds?.(method.config) ?? 1;
  const savedSteps = resume && saved ? savedMaxSteps(saved) : undefined;
  if (steps !== undefined && rounds > 1) {
    throw new SslError('invalid-config', `--steps would cut ${method.id}'s ${rounds} rounds short; size each round with --epochs instead.`);
  }
  if (resume && saved && steps !== undefined && steps !== savedSteps) {
    throw new SslError(
      'invalid-config',
      `--resume --steps ${steps} disagrees with the run's ${savedSteps === undefined ? 'epochs (it has no --steps)' : `--steps ${savedSteps}`}; leave --steps out to resume it.`,
    );
  }
  return steps ?? savedSteps;
}

/**
 * Resolves --control / --no-control. A `--control <run>` must be a finished, evaluated run of a supervised-only
 * configuration (its method config is its own ablation) trained with this run's data, labels, seed, encoder,
 * batch size, lr and steps; otherwise the figures would not be paired, and the error names what differs.
 */
export function resolveSupervisedControl(
  registry: Registry,
  cwd: string,
  control: string | false | undefined,
  settings: ControlledSettings,
  method: MethodHandle,
): SupervisedControl {
  if (control === false) return { kind: 'none' };
  if (control === undefined) return { kind: 'own' };
  const runDir = resolve(cwd, control);
  const saved = existsSync(runDir) ? readSavedRun(runDir) : undefined;
  if (!saved)
    throw new SslError(
      'invalid-config',
      `--control ${control} holds no run (no config.json); pass the --out of a finished supervised-only run.`,
    );
  const accuracy = classifierAccuracyOf(runDir);
  if (accuracy === undefined) {
    throw new SslError(
      'invalid-config',
      `--control ${control} has no evaluated classifier in eval.json; let its run finish (or resume it) before this one.`,
    );
  }
  const controlMethod = registry.create(saved.config.method, saved.config.config);
  const ablation = controlMethod.definition.supervisedControl?.(controlMethod.config);
  if (ablation === undefined || JSON.stringify(sortKeys(ablation)) !== JSON.stringify(sortKeys(controlMethod.config))) {
    throw new SslError(
      'invalid-config',
      `--control ${control} is a ${saved.config.method} run that uses unlabeled images; a control must be supervised-only (e.g. ${saved.config.method} with its unlabeled weight 0 in --config "method").`,
    );
  }
  const conflicts = controlConflicts(saved, settings, method);
  if (conflicts.length > 0) {
    throw new SslError(
      'invalid-config',
      `--control ${control} was trained differently: ${conflicts.join(', ')}; a shared control needs this run's data, labels, seed, encoder, batch, lr and steps.`,
    );
  }
  return { kind: 'run', runDir, accuracy };
}

function controlConflicts(saved: SavedRun, settings: ControlledSettings, method: MethodHandle): string[] {
  const { config, invocation } = saved;
  const training = method.definition.training;
  const mine: Record<string, unknown> = {
    '--data': settings.data,
    '--labels-per-class': settings.labelsPerClass,
    '--seed': settings.seed,
    '--encoder': settings.encoder,
    '--config "encoderOptions"': settings.encoderOptions ?? null,
    '--image-size': settings.imageSize,
    '--channels': settings.channels,
    '--batch-size': settings.batchSize ?? training?.batchSize,
    '--lr': settings.lr ?? training?.optimizer?.lr,
    optimizer: training?.optimizer?.kind,
    '--steps': settings.steps ?? null,
    '--init': settings.init ?? null,
  };
  const theirs: Record<string, unknown> = {
    '--data': invocation?.data,
    '--labels-per-class': invocation?.labelsPerClass,
    '--seed': config.seed,
    '--encoder': invocation?.encoder,
    '--config "encoderOptions"': invocation?.encoderOptions ?? null,
    '--image-size': invocation?.imageSize,
    '--channels': invocation?.channels,
    '--batch-size': config.batchSize,
    '--lr': config.optimizer?.lr,
    optimizer: config.optimizer?.kind,
    '--steps': savedMaxSteps(saved) ?? null,
    '--init': invocation?.init ?? null,
  };
  // Without --steps both runs are sized by epochs, which must then agree.
  if (settings.steps === undefined && savedMaxSteps(saved) === undefined) {
    mine['--epochs'] = settings.epochs ?? training?.epochs;
    theirs['--epochs'] = config.epochs;
  }
  return Object.keys(mine)
    .filter((flag) => JSON.stringify(mine[flag] ?? null) !== JSON.stringify(theirs[flag] ?? null))
    .map((flag) => `${flag} ${JSON.stringify(mine[flag] ?? null)} (the control's ${JSON.stringify(theirs[flag] ?? null)})`);
}

function classifierAccuracyOf(runDir: string): number | undefined {
  try {
    const evaluation = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8')) as { classifier?: { accuracy?: unknown } };
    const accuracy = evaluation.classifier?.accuracy;
    return typeof accuracy === 'number' && Number.isFinite(accuracy) ? accuracy : undefined;
  } catch {
    return undefined;
  }
}

/** A JSON value with object keys sorted, so two configs compare by content rather than key order. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, inner]) => [key, sortKeys(inner)]),
  );
}
