/**
 * The figures docs/scaling.md extrapolates from, measured with the code users run:
 *
 *   node --conditions=@ssl/source --import tsx packages/cli/scripts/measure-scaling.ts [--backend wasm]
 *
 * 1. SimCLR on the default CNN at batch 256 through `ssl pretrain` (Fashion-MNIST sample, 28×28×1, 2 epochs
 *    = 22 steps): the median of the steps' own durations from metrics.jsonl, skipping the first 2 (warm-up).
 * 2. Feature extraction (@ssl/eval's extractFeatures, batch 256, eval mode) with the trained CNN and a
 *    ResNet-18 (CIFAR stem) on the sample's 28×28 images: images/s.
 * 3. Exact kNN (@ssl/eval's nearestNeighbors: blocked cosine matMul + running top-k) of 1000 queries
 *    against a bank of 100 000 random 128-d vectors, k = 200: similarities/s.
 * Prints one `scaling …` line per figure with the load average (1 min) before and after it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEncoder, initBackend, loadEncoder, loadFashionMnist, type BackendName } from '@ssl/core';
import { extractFeatures, nearestNeighbors } from '@ssl/eval';
import { runCli } from '../src/program';
import { processIo } from '../src/cli-io';

const backendFlag = process.argv.indexOf('--backend');
const backend = (backendFlag >= 0 ? process.argv[backendFlag + 1] : 'wasm') as BackendName;
const load = () => loadavg()[0].toFixed(2);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const work = mkdtempSync(join(tmpdir(), 'ssl-scaling-'));
try {
  console.log(`scaling machine cores=${availableParallelism()} backend=${backend} SSL_THREADS=${process.env.SSL_THREADS ?? '(default)'}`);

  // 1. SimCLR steps through the CLI, as a user runs it.
  let before = load();
  const run = join(work, 'simclr-cnn');
  const io = { ...processIo(), stdout: { write: () => true } };
  const code = await runCli(
    [
      'pretrain',
      'contrastive:simclr',
      '--data',
      'fashion-mnist-sample',
      '--epochs',
      '2',
      '--batch-size',
      '256',
      '--no-eval',
      '--backend',
      backend,
      '--out',
      run,
    ],
    io,
  );
  if (code !== 0) throw new Error(`ssl pretrain exited ${code}`);
  const steps = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string; seconds?: number })
    .filter((record) => record.type === 'step' && record.seconds !== undefined)
    .map((record) => record.seconds as number);
  const stepSeconds = median(steps.slice(2));
  console.log(
    `scaling simclr-cnn-b256 steps=${steps.length} median_ms=${(1000 * stepSeconds).toFixed(0)} steps_per_s=${(1 / stepSeconds).toFixed(2)} images_per_s=${(256 / stepSeconds).toFixed(0)} load=${before}→${load()}`,
  );

  // 2. Feature extraction, eval mode, batch 256.
  await initBackend({ backend });
  const train = await loadFashionMnist({ source: 'sample', split: 'train' });
  const encoders = [
    { name: 'cnn-trained', encoder: await loadEncoder(join(run, 'encoder')), images: 3000 },
    { name: 'resnet18', encoder: createEncoder({ kind: 'resnet18', inputShape: [28, 28, 1], seed: 0 }), images: 512 },
  ];
  for (const { name, encoder, images } of encoders) {
    await extractFeatures(encoder, train, { limit: 256 }); // warm-up: kernels compiled, weights uploaded
    before = load();
    const started = performance.now();
    await extractFeatures(encoder, train, { limit: images, batchSize: 256 });
    const seconds = (performance.now() - started) / 1000;
    console.log(`scaling features-${name} images=${images} images_per_s=${(images / seconds).toFixed(0)} load=${before}→${load()}`);
    encoder.model.dispose();
  }

  // 3. Exact kNN: the brute-force baseline a sharded index replaces.
  const dim = 128;
  const bankSize = 100_000;
  const queries = 1000;
  const random = (count: number, seed: number) => {
    const out = new Float32Array(count);
    let state = seed;
    for (let i = 0; i < count; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      out[i] = state / 2 ** 32 - 0.5;
    }
    return out;
  };
  const bank = { features: random(bankSize * dim, 1), dim, labels: new Int32Array(bankSize) };
  const test = { features: random(queries * dim, 2), dim, labels: new Int32Array(queries) };
  before = load();
  const started = performance.now();
  await nearestNeighbors(bank, test, { k: 200 });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `scaling knn-exact bank=${bankSize} queries=${queries} dim=${dim} k=200 seconds=${seconds.toFixed(2)} similarities_per_s=${((bankSize * queries) / seconds).toExponential(2)} load=${before}→${load()}`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
