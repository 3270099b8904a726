import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The value after `--name` on the command line, if the flag is there. */
export function argument(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

/** `Number()` of the value after `--name` (NaN for a non-number, as the examples have always passed it on). */
export function numberArgument(name: string): number | undefined {
  const value = argument(name);
  return value === undefined ? undefined : Number(value);
}

/** True when the module with this `import.meta.url` is the script node was started with (not imported by a test). */
export function isMainModule(moduleUrl: string): boolean {
  return Boolean(process.argv[1]) && resolve(process.argv[1]) === fileURLToPath(moduleUrl);
}
