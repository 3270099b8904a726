import { runCli } from './program';

/** What bin/ssl.mjs calls: runs the CLI on the process's streams and resolves to the exit code. */
export function main(argv: readonly string[]): Promise<number> {
  return runCli(argv);
}
