// SimCLR on Fashion-MNIST: train a small CNN (with batch norm), then compare the trained encoder with the
// same encoder at random init and with raw pixels, by kNN and linear probes (all labels, 10 per class).
// The training and comparison run, shared with the BYOL example, is runPretrainAndCompare (examples/shared).
// Run: pnpm --filter @ssl-examples/simclr-fashion-mnist start -- [--epochs 4] [--data full|sample] [--out runs/simclr]
//      [--limit N] [--batch-size 256] [--lr 0.002] [--temperature 0.2] [--seed 0]
import { createRegistry } from '@ssl/core';
import contrastive from '@ssl/contrastive';
import { argument, isMainModule, numberArgument, runPretrainAndCompare } from '@ssl-examples/shared';
import type { PretrainAndCompareOptions, PretrainAndCompareResult } from '@ssl-examples/shared';

export { ENCODER } from '@ssl-examples/shared';
export type { EncoderScores } from '@ssl-examples/shared';

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

if (isMainModule(import.meta.url)) {
  const data = argument('data') ?? 'full';
  if (data !== 'full' && data !== 'sample') throw new Error(`--data must be 'full' or 'sample', got ${data}`);
  const result = await runSimclrExample({
    epochs: numberArgument('epochs'),
    data,
    limit: numberArgument('limit'),
    out: argument('out') ?? 'runs/simclr',
    batchSize: numberArgument('batch-size'),
    lr: numberArgument('lr'),
    temperature: numberArgument('temperature'),
    seed: numberArgument('seed'),
  });
  console.log(`\ntrain ${result.trainSeconds.toFixed(0)} s (${result.steps} steps), eval ${result.evalSeconds.toFixed(0)} s, load ${result.loadAverage.toFixed(1)}\n`);
  console.log(result.markdown);
}
