import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PretrainAndCompareOptions } from './pretrain-and-compare';

/**
 * The script's arguments for `node:util`'s `parseArgs`, the one argument style of the examples.
 * `pnpm start -- --flag` forwards the `--` itself; parseArgs would take everything after it as positional.
 */
export function exampleArgs(argv: readonly string[] = process.argv.slice(2)): string[] {
  return argv.filter((arg) => arg !== '--');
}

/** `Number(value)`, undefined when the flag is absent; a value that is not a finite number is refused by name. */
export function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new Error(`--${name} expects a number, got ${JSON.stringify(value)}`);
  return parsed;
}

/** A comma-separated list of numbers (`--channels 16,32,64`), undefined when the flag is absent. */
export function numberListOption(name: string, value: string | undefined): number[] | undefined {
  return value?.split(',').map((item) => numberOption(name, item) as number);
}

/** `--data full|sample`, the Fashion-MNIST examples' choice of the 60k/10k set or the bundled 3000/1000 sample. */
export function dataOption(value: string | undefined, fallback: 'full' | 'sample' = 'full'): 'full' | 'sample' {
  const data = value ?? fallback;
  if (data !== 'full' && data !== 'sample') throw new Error(`--data expects full or sample, got ${JSON.stringify(data)}`);
  return data;
}

/** True when the module with this `import.meta.url` is the script node was started with (not imported by a test). */
export function isMainModule(moduleUrl: string): boolean {
  return Boolean(process.argv[1]) && resolve(process.argv[1]) === fileURLToPath(moduleUrl);
}

/** The flags every pretrain-and-compare example takes, as `parseArgs` options. */
export const PRETRAIN_FLAGS = {
  epochs: { type: 'string' },
  data: { type: 'string' },
  out: { type: 'string' },
  limit: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  seed: { type: 'string' },
  'encoder-seed': { type: 'string' },
  channels: { type: 'string' },
} as const;

/** The runner's options from the values of PRETRAIN_FLAGS; `defaultOut` is the example's run directory. */
export function pretrainFlagOptions(
  values: { readonly [flag: string]: string | boolean | undefined },
  defaultOut: string,
): PretrainAndCompareOptions {
  const text = (flag: keyof typeof PRETRAIN_FLAGS) => values[flag] as string | undefined;
  return {
    epochs: numberOption('epochs', text('epochs')),
    data: dataOption(text('data')),
    out: text('out') ?? defaultOut,
    limit: numberOption('limit', text('limit')),
    batchSize: numberOption('batch-size', text('batch-size')),
    lr: numberOption('lr', text('lr')),
    seed: numberOption('seed', text('seed')),
    encoderSeed: numberOption('encoder-seed', text('encoder-seed')),
    channels: numberListOption('channels', text('channels')),
  };
}
