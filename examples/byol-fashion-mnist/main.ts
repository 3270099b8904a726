// BYOL on Fashion-MNIST: a thin config of @ssl/eval's pretrainAndCompare (through examples/shared), the
// runner `ssl pretrain` uses: train a small CNN, then print every figure (kNN, linear probe with all labels and
// with 10 per class) beside the same encoder at random init and raw pixels.
// Run: pnpm --filter @ssl-examples/byol-fashion-mnist start -- [--epochs 3] [--data full|sample] [--out runs/byol]
//      [--limit N] [--batch-size 64] [--lr 3e-3] [--base-momentum 0.99] [--seed 0] [--encoder-seed N] [--channels 32,64,128]
import { parseArgs } from 'node:util';
import { createRegistry } from '@ssl/core';
import noncontrastive from '@ssl/noncontrastive';
import {
  PRETRAIN_FLAGS,
  describeRun,
  exampleArgs,
  isMainModule,
  numberOption,
  pretrainFlagOptions,
  runPretrainAndCompare,
} from '@ssl-examples/shared';
import type { PretrainAndCompareOptions, PretrainAndCompareResult } from '@ssl-examples/shared';

export interface ByolExampleOptions extends PretrainAndCompareOptions {
  /** τ_base of the target EMA. */
  baseMomentum?: number;
}

export type ByolExampleResult = PretrainAndCompareResult;

export function runByolExample(options: ByolExampleOptions = {}): Promise<ByolExampleResult> {
  return runPretrainAndCompare(
    {
      label: 'BYOL',
      createMethod: () =>
        createRegistry()
          .use(noncontrastive())
          .create('noncontrastive:byol', options.baseMomentum !== undefined ? { baseMomentum: options.baseMomentum } : {}),
      defaultBatchSize: 64,
      defaultEpochs: 3,
    },
    options,
  );
}

/** The example's flags, parsed with node:util's parseArgs. */
export function parseByolArgs(argv?: readonly string[]): ByolExampleOptions {
  const { values } = parseArgs({ args: exampleArgs(argv), options: { ...PRETRAIN_FLAGS, 'base-momentum': { type: 'string' } } });
  return { ...pretrainFlagOptions(values, 'runs/byol'), baseMomentum: numberOption('base-momentum', values['base-momentum']) };
}

if (isMainModule(import.meta.url)) {
  const result = await runByolExample(parseByolArgs());
  console.log(`\n${result.table}\n\n${describeRun(result)}`);
}
