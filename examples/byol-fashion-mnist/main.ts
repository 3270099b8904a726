// BYOL on Fashion-MNIST: train a small CNN (with batch norm), then compare the trained encoder with the
// same encoder at random init and with raw pixels, by kNN and linear probes (all labels, 10 per class).
// The training and comparison run, shared with the SimCLR example, is runPretrainAndCompare (examples/shared).
// Run: pnpm --filter @ssl-examples/byol-fashion-mnist start -- [--epochs 3] [--data full|sample] [--out runs/byol]
//      [--limit N] [--batch-size 64] [--lr 3e-3] [--base-momentum 0.99] [--seed 0] [--channels 32,64,128]
import { createRegistry } from '@ssl/core';
import noncontrastive from '@ssl/noncontrastive';
import { argument, isMainModule, numberArgument, runPretrainAndCompare } from '@ssl-examples/shared';
import type { PretrainAndCompareOptions, PretrainAndCompareResult } from '@ssl-examples/shared';

export { ENCODER } from '@ssl-examples/shared';
export type { EncoderScores } from '@ssl-examples/shared';

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
    },
    options,
  );
}

if (isMainModule(import.meta.url)) {
  const data = argument('data') ?? 'full';
  if (data !== 'full' && data !== 'sample') throw new Error(`--data must be 'full' or 'sample', got ${data}`);
  const result = await runByolExample({
    epochs: numberArgument('epochs'),
    data,
    limit: numberArgument('limit'),
    out: argument('out') ?? 'runs/byol',
    batchSize: numberArgument('batch-size'),
    lr: numberArgument('lr'),
    baseMomentum: numberArgument('base-momentum'),
    seed: numberArgument('seed'),
    channels: argument('channels')?.split(',').map(Number),
  });
  console.log(`\ntrain ${result.trainSeconds.toFixed(0)} s (${result.steps} steps), eval ${result.evalSeconds.toFixed(0)} s, load ${result.loadAverage.toFixed(1)}\n`);
  console.log(result.markdown);
}
