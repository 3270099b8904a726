/**
 * A reduced-budget version of the full-data run, for comparing settings of any registered method (first-party
 * plugins and those the CLI discovers) before a queue run: pre-train on the first `--train-limit` Fashion-MNIST training images, then score the encoder with
 * the shared runner's protocol (`pretrainAndCompare`: kNN k = 200, linear probes, 10 labels per class, each
 * beside the same encoder at random init) with the first `--eval-train-limit` training images as the kNN bank
 * and the probes' training set, on the first `--test-limit` test images (default: all). The controls' scores are kept in `--control-dir`, so a
 * series of runs with the same encoder seed scores them once. One JSON line per run is appended to `--results`.
 *
 *   node --conditions=@ssl/source --import tsx packages/cli/scripts/reduced-budget.ts --name jigsaw-base \
 *     --method pretext:jigsaw [--config '{"patchInputSize":28}']  [--train-limit 10000] [--eval-train-limit 10000] [--test-limit 10000] \
 *     [--epochs 5] [--batch-size 256] [--lr 1e-3] [--seed 0] [--results /tmp/ssl-reduced.jsonl] [--save-encoder DIR]
 *
 * `--save-encoder DIR` keeps the trained encoder (saveEncoder: model.json with its spec and seed, weights.bin), e.g. for
 * `stage-readout.ts`, which scores each stage of a CNN encoder beside its random init.
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, loadFashionMnist, saveEncoder } from '@ssl/core';
import type { Encoder, EncoderSpec } from '@ssl/core';
import { collapseDiagnostics, controlledFigures, pretrainAndCompare } from '@ssl/eval';
import type { ControlScoreStore } from '@ssl/eval';
import { loadRegistry } from '../src/plugins';
import { firstImages } from './first-images';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'run' },
    method: { type: 'string', default: 'pretext:jigsaw' },
    config: { type: 'string', default: '{}' },
    'train-limit': { type: 'string', default: '10000' },
    'eval-train-limit': { type: 'string', default: '10000' },
    'test-limit': { type: 'string', default: '10000' },
    epochs: { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '256' },
    lr: { type: 'string' },
    'weight-decay': { type: 'string' },
    seed: { type: 'string', default: '0' },
    results: { type: 'string', default: '/tmp/ssl-reduced.jsonl' },
    'control-dir': { type: 'string', default: '/tmp/ssl-reduced-controls' },
    // Train only (no evaluation): to measure a step's cost.
    'no-eval': { type: 'boolean', default: false },
    'save-encoder': { type: 'string' },
  },
});

await initBackend({ backend: 'wasm', log: () => {} });
const fullTrain = await loadFashionMnist({ split: 'train', source: 'auto' });
const test = firstImages(await loadFashionMnist({ split: 'test', source: 'auto' }), Number(values['test-limit']));
const trainSet = firstImages(fullTrain, Number(values['train-limit']));
const evalTrain = firstImages(fullTrain, Number(values['eval-train-limit']));
const methodConfig = JSON.parse(values.config!) as Record<string, unknown>;
const { registry } = await loadRegistry(process.cwd());
const method = registry.create(values.method!, methodConfig);

mkdirSync(values['control-dir']!, { recursive: true });
const fileOf = (key: string) => join(values['control-dir']!, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
const store: ControlScoreStore = {
  async get(key) {
    return JSON.parse(readFileSync(fileOf(key), 'utf8'));
  },
  async set(key, row) {
    writeFileSync(fileOf(key), JSON.stringify(row));
  },
};
const dataKey = createHash('sha256')
  .update(`${evalTrain.size}/${test.size}/${values['eval-train-limit']}`)
  .update(evalTrain.images)
  .update(test.images)
  .digest('hex');

const optimizer = {
  ...(values.lr ? { lr: Number(values.lr) } : {}),
  ...(values['weight-decay'] ? { weightDecay: Number(values['weight-decay']) } : {}),
};
// CPU seconds of the whole process (the wasm threads included) spent in training: on a shared machine the wall
// time says more about the other processes than about the step; CPU time per step approaches a quiet step's cost.
const cpuAtStart = process.cpuUsage();
let trainCpuSeconds = 0;
const result = await pretrainAndCompare({
  method,
  data: trainSet,
  epochs: Number(values.epochs),
  batchSize: Number(values['batch-size']),
  seed: Number(values.seed),
  ...(Object.keys(optimizer).length > 0 ? { optimizer } : {}),
  ...(values['no-eval'] ? {} : { evaluation: { train: evalTrain, test } }),
  controlCache: { store, dataKey },
  onTrained() {
    const used = process.cpuUsage(cpuAtStart);
    trainCpuSeconds = (used.user + used.system) / 1e6;
  },
});
if (values['save-encoder']) {
  // The trainer writes the seed it drew into the spec, so the saved spec rebuilds this run's random init exactly.
  await saveEncoder(result.run.encoder as Encoder & { readonly spec: EncoderSpec }, values['save-encoder']);
}
const steps = result.run.history.length;
const timing = {
  steps,
  trainSeconds: Number(result.trainSeconds.toFixed(1)),
  msPerStep: Math.round((1000 * result.trainSeconds) / steps),
  cpuMsPerStep: Math.round((1000 * trainCpuSeconds) / steps),
};
const basics = {
  name: values.name,
  method: values.method,
  config: methodConfig,
  trainImages: trainSet.size,
  batchSize: Number(values['batch-size']),
};
if (!result.evaluation) {
  appendFileSync(values.results!, `${JSON.stringify({ ...basics, ...timing })}\n`);
  console.log(`${values.name}: ${JSON.stringify(timing)}`);
  result.run.dispose();
  process.exit(0);
}
const evaluation = result.evaluation;
const figures = controlledFigures(evaluation);
const row = {
  ...basics,
  epochs: Number(values.epochs),
  seed: Number(values.seed),
  ...timing,
  figures: figures.map((figure) => ({ key: figure.key, trained: figure.trained, randomInit: figure.randomInit, gain: figure.gain })),
  heldOutTask: evaluation.heldOutTask?.map((figure) => ({ name: figure.name, value: figure.value })),
  effectiveRank: Number(collapseDiagnostics(evaluation.trainedFeatures.test).effectiveRank.toFixed(1)),
  // Every 20th step's loss (and the last), to set beside another implementation's curve (simclr_peer.py logs the same steps).
  loss: result.run.history
    .map((record, i) => ({ step: i + 1, loss: Number(record.loss.toFixed(4)) }))
    .filter(({ step }) => step % 20 === 0 || step === steps),
};
appendFileSync(values.results!, `${JSON.stringify(row)}\n`);
const mean = (value: unknown) => (typeof value === 'number' ? value : (value as { mean: number }).mean);
console.log(
  `${values.name}: ${steps} steps, ${row.msPerStep} ms/step (${row.cpuMsPerStep} CPU ms/step); ` +
    figures
      .map(
        (f) => `${f.key} ${(100 * mean(f.trained)).toFixed(1)} vs ${(100 * mean(f.randomInit)).toFixed(1)} (${(100 * f.gain).toFixed(1)})`,
      )
      .join(', ') +
    `; own task ${evaluation.heldOutTask?.map((figure) => figure.value.toFixed(3)).join(', ')}; effective rank ${row.effectiveRank}`,
);
result.run.dispose();
