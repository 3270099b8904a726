import type { CliIo } from '../src/cli-io';

export interface BufferedIo extends CliIo {
  out(): string;
  err(): string;
}

/** A CliIo that records what a command prints, running against `cwd`. */
export function bufferedIo(cwd: string): BufferedIo {
  let stdout = '';
  let stderr = '';
  return {
    cwd,
    interactive: false,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    out: () => stdout,
    err: () => stderr,
  };
}
