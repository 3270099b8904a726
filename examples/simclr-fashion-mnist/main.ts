// SimCLR on Fashion-MNIST: a thin config of @ssl/eval's pretrainAndCompare (through examples/shared), the
// runner `ssl pretrain` uses: train a small CNN, then print every figure (kNN, linear probe with all labels and
// with 10 per class) beside the same encoder at random init and raw pixels.
// Run: pnpm --filter @ssl-examples/simclr-fashion-mnist start -- [--epochs 4] [--data full|sample] [--out runs/simclr]
//      [--limit N] [--batch-size 256] [--lr 0.002] [--temperature 0.2] [--seed 0] [--encoder-seed N] [--channels 32,64,128]
import { parseArgs } from 'node:util';
import { createRegistry } from '@ssl/core';
import contrastive from '@ssl/contrastive';
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

export interface SimclrExampleOptions extends PretrainAndCompareOptions {
  temperature?: number;
}

export type SimclrExampleResult = PretrainAndCompareResult;

export function runSimclrExample(options: SimclrExampleOptions = {}): Promise<SimclrExampleResult> {
  return runPretrainAndCompare(
    {
      label: 'SimCLR',
      createMethod: () =>
        createRegistry()
          .use(contrastive())
          .create('contrastive:simclr', options.temperature !== undefined ? { temperature: options.temperature } : {}),
      // The full-data acceptance run (README): 4 epochs of batch 256, 15 minutes on 2 cores.
      defaultBatchSize: 256,
      defaultEpochs: 4,
    },
    options,
  );
}

/** The example's flags, parsed with node:util's parseArgs. */
export function parseSimclrArgs(argv?: readonly string[]): SimclrExampleOptions {
  const { values } = parseArgs({ args: exampleArgs(argv), options: { ...PRETRAIN_FLAGS, temperature: { type: 'string' } } });
  return { ...pretrainFlagOptions(values, 'runs/simclr'), temperature: numberOption('temperature', values['temperature']) };
}

if (isMainModule(import.meta.url)) {
  const result = await runSimclrExample(parseSimclrArgs());
  console.log(`\n${result.table}\n\n${describeRun(result)}`);
}
