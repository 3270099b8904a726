/** Where a command writes and what it runs against; tests pass buffers and a temp cwd instead of the process's. */
export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
  cwd: string;
  /** Draw an animated progress bar (stderr is a terminal) or print one line per epoch (logs, CI). */
  interactive: boolean;
}

export interface TextSink {
  write(text: string): unknown;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), interactive: process.stderr.isTTY === true };
}
