/**
 * One DINO run with a ViT on the committed 3000-image Fashion-MNIST sample, for the ViT recipe search (README, "DINO
 * with a ViT"): trains through core's `train()` with a recipe file's `encoderOptions` and `method`, then measures the
 * student encoder against the same ViT at random init (same spec and seed) — weighted kNN (k = 200, sample train →
 * sample test) and the collapse figures of the test features (effective rank, per-dimension std of the L2-normalized
 * features, mean pairwise cosine) — and prints one JSON line. CPU time is the process's (all threads), the figure
 * that does not depend on what else the machine runs.
 *
 *   node --conditions=@ssl/source --import tsx packages/noncontrastive/scripts/dino-vit-sample.ts \
 *     --config packages/noncontrastive/recipes/dino-vit28.json [--epochs 6] [--batch 64] [--lr 1e-3] [--seed 0] \
 *     [--threads 2] [--method '{"outputDim": 256}'] [--encoder-options '{"depth": 2}'] [--label name]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createEncoder, createRegistry, initBackend, loadFashionMnist, train, vitPreset, withEncoderOptions } from '@ssl/core';
import type { Encoder, ImageDataset, VitSpec } from '@ssl/core';
import { collapseDiagnostics, extractFeatures, knnClassify } from '@ssl/eval';
import noncontrastive from '../src/index';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    epochs: { type: 'string', default: '6' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string' },
    seed: { type: 'string', default: '0' },
    threads: { type: 'string', default: '2' },
    method: { type: 'string', default: '{}' },
    'encoder-options': { type: 'string', default: '{}' },
    label: { type: 'string', default: '' },
  },
});

interface RecipeFile {
  encoderOptions?: Record<string, unknown>;
  method?: Record<string, unknown>;
  lr?: number;
}
const recipe: RecipeFile = values.config ? (JSON.parse(readFileSync(values.config, 'utf8')) as RecipeFile) : {};
const methodOverrides = JSON.parse(values.method) as Record<string, unknown>;
const methodConfig = { ...recipe.method, ...methodOverrides };
if (recipe.method?.views && methodOverrides.views) methodConfig.views = { ...recipe.method.views, ...methodOverrides.views };
const seed = Number(values.seed);
const spec = withEncoderOptions(vitPreset('vit28', { seed: 1234 + seed }), {
  ...recipe.encoderOptions,
  ...(JSON.parse(values['encoder-options']) as Record<string, unknown>),
}) as VitSpec;
const lr = values.lr ? Number(values.lr) : recipe.lr;

await initBackend({ backend: 'wasm', threads: Number(values.threads), log: () => {} });
const trainSet: ImageDataset = await loadFashionMnist({ split: 'train', source: 'sample' });
const testSet: ImageDataset = await loadFashionMnist({ split: 'test', source: 'sample' });

async function measure(encoder: Encoder): Promise<{ knn: number; effectiveRank: number; perDimStd: number; meanCosine: number }> {
  const trainFeatures = await extractFeatures(encoder as never, trainSet);
  const testFeatures = await extractFeatures(encoder as never, testSet);
  const knn = (await knnClassify(trainFeatures, testFeatures, { k: 200 })).top1;
  const collapse = collapseDiagnostics(testFeatures);
  return { knn, effectiveRank: collapse.effectiveRank, perDimStd: collapse.perDimStd, meanCosine: collapse.meanPairwiseCosine };
}

const randomEncoder = createEncoder(spec);
const randomInit = await measure(randomEncoder);
randomEncoder.model.dispose();

const cpuStart = process.cpuUsage();
const wallStart = performance.now();
const result = await train({
  method: createRegistry().use(noncontrastive()).create('noncontrastive:dino', methodConfig),
  data: trainSet,
  encoder: spec,
  epochs: Number(values.epochs),
  batchSize: Number(values.batch),
  seed,
  ...(lr ? { optimizer: { lr } } : {}),
  // One line per epoch on stderr, so a slow run on a loaded machine shows where it is.
  callbacks: [
    {
      name: 'progress',
      onStepEnd: (record) => {
        if (record.step % 23 !== 0) return;
        const figures = Object.entries(record.metrics).map(([name, value]) => `${name} ${value.toFixed(3)}`);
        console.error(`step ${record.step} loss ${record.loss.toFixed(3)}: ${figures.join(', ')}`);
      },
    },
  ],
});
const cpu = process.cpuUsage(cpuStart);
const wallSeconds = (performance.now() - wallStart) / 1000;
const trained = await measure(result.encoder);
const last = result.history.slice(-5);
const lastMetrics: Record<string, number> = {};
for (const name of Object.keys(last[0]?.metrics ?? {})) {
  lastMetrics[name] = Number((last.reduce((s, r) => s + r.metrics[name], 0) / last.length).toFixed(4));
}
const round = (x: number) => Number(x.toFixed(4));
console.log(
  JSON.stringify({
    label: values.label,
    encoderOptions: { ...recipe.encoderOptions, ...(JSON.parse(values['encoder-options']) as object) },
    method: methodConfig,
    lr: lr ?? 'method default',
    epochs: Number(values.epochs),
    batch: Number(values.batch),
    seed,
    steps: result.steps,
    cpuMsPerStep: Math.round((cpu.user + cpu.system) / 1000 / result.steps),
    wallSeconds: Math.round(wallSeconds),
    knn: { random: round(randomInit.knn), trained: round(trained.knn), gain: round(100 * (trained.knn - randomInit.knn)) },
    effectiveRank: { random: round(randomInit.effectiveRank), trained: round(trained.effectiveRank) },
    meanCosine: { random: round(randomInit.meanCosine), trained: round(trained.meanCosine) },
    perDimStd: { random: round(randomInit.perDimStd), trained: round(trained.perDimStd) },
    lastMetrics,
    loss: round(result.history.at(-1)?.loss ?? NaN),
  }),
);
result.dispose();
