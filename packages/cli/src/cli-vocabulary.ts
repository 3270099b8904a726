import { SslError, isSslError } from '@ssl/core';

/** train() option names and the flags that set them: errors from core name the option, the CLI names the flag. */
const FLAG_OF_FIELD: Readonly<Record<string, string>> = {
  batchSize: '--batch-size',
  epochs: '--epochs',
  perClass: '--labels-per-class',
  'optimizer.lr': '--lr',
  seed: '--seed',
  encoder: '--encoder',
};

/**
 * Rewrites an SslError from core into the command line's words: the option its `details.field` names becomes
 * the flag (`lower batchSize` → `lower --batch-size`), and a diverged or collapsed run's fix names `--lr`.
 * Other errors pass through unchanged.
 */
export function inCliVocabulary(error: unknown): unknown {
  if (!isSslError(error)) return error;
  if (error.code === 'diverged' || error.code === 'collapsed') {
    const problem = typeof error.details.problem === 'string' ? error.details.problem : error.message;
    return new SslError(
      error.code,
      `${problem} Nothing non-finite was saved; rerun with a lower --lr, adding --overwrite to reuse this --out.`,
      {
        cause: error,
        details: error.details,
      },
    );
  }
  const field = typeof error.details.field === 'string' ? error.details.field : undefined;
  const flag = field === undefined ? undefined : FLAG_OF_FIELD[field];
  if (!field || !flag) return error;
  const escaped = field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const message = error.message
    .replace(new RegExp(`Invalid config value ${escaped} = ([^:]+):`), `Invalid ${flag} $1:`)
    .replace(new RegExp(`\\b${escaped}\\b( = )?`, 'g'), (_, equals: string | undefined) => (equals ? `${flag} ` : flag));
  return new SslError(error.code, message, { cause: error, details: error.details });
}
