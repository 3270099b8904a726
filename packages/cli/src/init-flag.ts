import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SslError, loadRun, type AnyEncoderSpec, type EncoderDefinition, type InitialEncoder, type Registry } from '@ssl/core';
import { readSavedRun } from './commands/saved-run';

/** Encoder kinds that take images; a run whose encoder is another (a text transformer) cannot start an image method. */
const TEXT_ENCODER_KINDS = new Set(['text']);

/** An encoder spec without its seed (which only chooses the initial weights the start replaces), keys sorted, as one line of JSON. */
function specLine(spec: unknown): string {
  const { seed: _seed, ...rest } = (spec ?? {}) as Record<string, unknown>;
  return JSON.stringify(Object.fromEntries(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/**
 * `ssl semisup --init <run>`: checks, before any data is loaded, that `runDir` holds a finished `ssl pretrain` run of
 * a method that trains without labels, whose saved encoder is an image encoder of this run's spec (`encoder`). The
 * method's encoder then starts from its weights (`loadInitialEncoder`), and nothing else does: heads, EMA decay,
 * optimizer and schedule are this run's. Each refusal is one line naming --init.
 */
export function checkInitFlag(registry: Registry, runDir: string, encoder: AnyEncoderSpec | undefined): void {
  const saved = readSavedRun(runDir);
  if (!saved)
    throw new SslError('io', `--init ${runDir} holds no run (no config.json): pass the --out of a finished \`ssl pretrain\` run.`);
  const source = registry.has(saved.config.method) ? tryCreate(registry, saved.config.method) : undefined;
  if (source?.definition.data === 'semi-supervised') {
    throw new SslError(
      'invalid-config',
      `--init ${runDir} is a ${saved.config.method} run (semi-supervised); --init starts from a self-supervised run of \`ssl pretrain\`.`,
    );
  }
  const { trainedEncoder, encoder: asked } = saved.config as { trainedEncoder?: unknown; encoder?: unknown };
  const theirs = (trainedEncoder ?? asked ?? null) as { kind?: string; inputShape?: readonly number[] } | null;
  if (!theirs || TEXT_ENCODER_KINDS.has(String(theirs.kind)) || theirs.inputShape?.length !== 3) {
    throw new SslError(
      'invalid-config',
      `--init ${runDir} is a ${saved.config.method} run whose encoder is ${theirs ? `${String(theirs.kind)} ${specLine(theirs)}` : 'none'}, not an image encoder; --init starts an image encoder.`,
    );
  }
  if (!encoder || specLine(theirs) !== specLine(encoder)) {
    throw new SslError(
      'invalid-config',
      `--init ${runDir} trained the encoder ${specLine(theirs)}, this run's is ${specLine(encoder)}; pass the --encoder and --config "encoderOptions" of the --init run.`,
    );
  }
  if (!saved.finished || !existsSync(join(runDir, 'encoder', 'model.json'))) {
    throw new SslError(
      'invalid-config',
      `--init ${runDir} is an unfinished ${saved.config.method} run (no final encoder); finish it with \`ssl pretrain ${saved.config.method} --resume --out ${runDir}\` first.`,
    );
  }
}

function tryCreate(registry: Registry, methodId: string) {
  try {
    return registry.create(methodId, {});
  } catch {
    // A method of a plugin not installed here: its data kind is unknown, the encoder checks still apply.
    return undefined;
  }
}

/**
 * Loads the --init run's encoder (once the backend is up) as core's `initialEncoder`; `dispose` frees it after
 * training. `encoders`: the plugin encoder kinds of the CLI's registry (the method handle's `parts.encoders`).
 */
export async function loadInitialEncoder(
  runDir: string,
  encoders: Readonly<Record<string, EncoderDefinition>>,
): Promise<{ initialEncoder: InitialEncoder; dispose: () => void }> {
  const run = await loadRun(runDir, { encoders });
  if (!run.encoder) {
    run.dispose();
    throw new SslError('io', `--init ${runDir} has no saved encoder (encoder/model.json).`);
  }
  return { initialEncoder: { encoder: run.encoder, from: runDir }, dispose: () => run.dispose() };
}
