/**
 * Throughput of the `simclr` view policy on Fashion-MNIST-sized batches (256 × 28×28×1) on the wasm
 * backend: views per second, median over timed batches after warm-up. A SimCLR step consumes
 * 2 × 256 views, so augmentation must stay well above ~1500 views/s not to dominate a 1 s step.
 *
 *   node --conditions=@ssl/source --import tsx packages/core/bench/augment-simclr28.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { pathToFileURL } from 'node:url';
import { applyViews, viewPolicy } from '../src/augment/index';
import { loadFashionMnist } from '../src/data/mnist';
import { BatchLoader } from '../src/data/batches';
import { Random } from '../src/random';

const BATCH_SIZE = 256;
const WARMUP_BATCHES = 3;
const TIMED_BATCHES = 15;

export async function benchAugmentSimclr28(): Promise<string> {
  if (tf.getBackend() !== 'wasm') {
    await tf.setBackend('wasm');
    await tf.ready();
  }
  const dataset = await loadFashionMnist({ split: 'train', source: 'sample' });
  const loader = new BatchLoader(dataset, { batchSize: BATCH_SIZE, seed: 0 });
  const policy = viewPolicy('simclr');
  const rng = new Random(0);
  const seconds: number[] = [];
  for (let b = 0; b < WARMUP_BATCHES + TIMED_BATCHES; b++) {
    const batch = loader.batch(0, b % loader.batchesPerEpoch);
    const start = performance.now();
    const views = applyViews(policy, batch.images, rng);
    await Promise.all(views.map((v) => v.data())); // wait for the backend to finish
    const elapsed = (performance.now() - start) / 1000;
    tf.dispose([...views, batch.images, batch.labels!]);
    if (b >= WARMUP_BATCHES) seconds.push(elapsed);
  }
  seconds.sort((a, b) => a - b);
  const median = seconds[Math.floor(seconds.length / 2)];
  const viewsPerSecond = Math.round((2 * BATCH_SIZE) / median);
  return `bench augment-simclr28 views_per_s=${viewsPerSecond}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await benchAugmentSimclr28());
}
