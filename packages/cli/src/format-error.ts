import { isSslError } from '@ssl/core';

/**
 * One line for the terminal: `ssl: error: <message>`. Users get what went wrong and how to fix it; the stack
 * (and the cause chain) only with --verbose, where it helps whoever debugs @ssl itself.
 */
export function formatCliError(error: unknown, options: { verbose: boolean }): string {
  const message = error instanceof Error ? error.message : String(error);
  const line = `ssl: error: ${oneLine(message)}`;
  if (!options.verbose) return `${line}\n`;
  const details: string[] = [line];
  if (isSslError(error)) details.push(`  code: ${error.code}`);
  let current: unknown = error;
  while (current instanceof Error) {
    if (current.stack) details.push(current === error ? current.stack : `Caused by: ${current.stack}`);
    current = current.cause;
  }
  return `${details.join('\n')}\n`;
}

/** Collapses a multi-line message (commander's "Did you mean" hints, wrapped tfjs errors) onto one line. */
export function oneLine(message: string): string {
  return message
    .split('\n')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .join(' ');
}
