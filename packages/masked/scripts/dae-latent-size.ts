/**
 * The lecture's warning about autoencoders, measured: a DAE whose latent is narrow must compress, one whose
 * latent is wider than the image (1024 > 784 pixels) need not. Trains masked:dae with each latent on the
 * Fashion-MNIST sample, then scores the encoder with the shared runner's protocol (kNN k = 200 over the train
 * split as the bank, linear probe, 10 labels per class) beside the same encoder at random init:
 *
 *   node --conditions=@ssl/source --import tsx packages/masked/scripts/dae-latent-size.ts [--steps 300] [--seed 3] [--only 0,1]
 *
 * Latent = what the decoder reads. Narrow: the CNN 16-32-128's 128 features through the DAE's 32-wide linear
 * bottleneck. Wide: the CNN 16-32-1024's 1024 features, no bottleneck. Each with and without corruption
 * (ν = 0.25 masking noise vs a plain autoencoder, ν = 0, every pixel weighted 1).
 */
import { parseArgs } from 'node:util';
import { createRegistry, initBackend, loadFashionMnist } from '@ssl/core';
import type { CnnSpec } from '@ssl/core';
// @ssl/masked does not depend on @ssl/eval; the script reaches the shared runner from its sources.
import { pretrainAndCompare } from '../../eval/src/index';
import masked, { DAE_DEFAULTS } from '../src/index';
import type { DaeConfig } from '../src/index';

const { values } = parseArgs({
  options: { steps: { type: 'string', default: '300' }, seed: { type: 'string', default: '3' }, only: { type: 'string' } },
});
const steps = Number(values.steps);
const seed = Number(values.seed);

await initBackend({ log: () => {} });
const [train, test] = await Promise.all([
  loadFashionMnist({ split: 'train', source: 'sample' }),
  loadFashionMnist({ split: 'test', source: 'sample' }),
]);

const cnn = (width: number): CnnSpec => ({ kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, width] });
const variants: { name: string; encoder: CnnSpec; config: Partial<DaeConfig> }[] = [
  { name: 'narrow (32), DAE ν = 0.25', encoder: cnn(128), config: { bottleneck: 32 } },
  { name: 'wide (1024), DAE ν = 0.25', encoder: cnn(1024), config: { bottleneck: 0 } },
  { name: 'narrow (32), plain AE', encoder: cnn(128), config: { bottleneck: 32, maskingRate: 0, cleanWeight: 1 } },
  { name: 'wide (1024), plain AE', encoder: cnn(1024), config: { bottleneck: 0, maskingRate: 0, cleanWeight: 1 } },
];

const percent = (x: number) => `${(100 * x).toFixed(1)}%`;
const rows: string[] = [];
// --only 0,2 runs those variants (0-based, in the order above).
const chosen = values.only === undefined ? variants : values.only.split(',').map((i) => variants[Number(i)]);
for (const variant of chosen) {
  const method = createRegistry()
    .use(masked())
    .create('masked:dae', { ...DAE_DEFAULTS, ...variant.config });
  const started = performance.now();
  const { run, evaluation } = await pretrainAndCompare({
    method,
    data: train,
    encoder: variant.encoder,
    batchSize: 64,
    maxSteps: steps,
    seed,
    evaluation: { train, test },
  });
  const loss = run.history.slice(-20).reduce((sum, record) => sum + record.loss, 0) / Math.min(20, run.history.length);
  run.dispose();
  if (!evaluation) throw new Error('no evaluation');
  const { trained, randomInit } = evaluation;
  const few = (scores: typeof trained) => scores.fewLabels.mean;
  const row =
    `| ${variant.name} | ${loss.toFixed(4)} | ${percent(trained.knn)} (${percent(randomInit.knn)}) | ` +
    `${percent(trained.linear)} (${percent(randomInit.linear)}) | ${percent(few(trained))} (${percent(few(randomInit))}) |`;
  rows.push(row);
  console.log(`${row}  ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
console.log(`\n${steps} steps of 64, seed ${seed}; trained (random init)`);
console.log('| latent, objective | train loss (last 20 steps) | kNN top-1 | linear probe | 10 labels/class |');
console.log('| --- | --- | --- | --- | --- |');
for (const row of rows) console.log(row);
