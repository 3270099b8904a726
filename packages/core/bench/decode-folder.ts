/**
 * Decoding throughput of an ImageStream against what a SimCLR training step consumes (issue #30, acceptance 1
 * and 2), in one process so the peak RSS covers both:
 *
 *   bench decode-folder images_per_s=… step_images_per_s=… ratio=… fed_step_images_per_s=… rss_mb=… …
 *
 * - images_per_s: decoded + resized images per second of the stream alone (worker pool, prefetch), over
 *   BENCH_DECODE_IMAGES images of epoch 0 (default: the whole set), corrupt files skipped and counted.
 * - step_images_per_s: images per second of a SimCLR step alone (batch 256 of 32×32×3: the SimCLR recipe's two
 *   views — crop, flip, colour jitter, grayscale, blur — through core's CNN encoder, a 2-layer projection,
 *   NT-Xent, Adam), median of BENCH_STEPS steps after BENCH_WARMUP.
 * - fed_step_images_per_s: the same steps fed by the stream (decode workers running beside the step); equal
 *   to step_images_per_s when a batch is always ready when the step ends and the cores are not shared.
 * - decode_cpu_ms_per_image, step_cpu_ms_per_image: CPU time (all threads) per image of each, which a loaded
 *   machine inflates far less than wall time: on an idle machine with W decode workers and the step's T threads,
 *   the rates approach W·1000/decode_cpu and T·1000/step_cpu.
 * - rss_mb: peak RSS of the whole process (threads included); decode_rss_mb: the peak after the decode-only pass,
 *   before the first tensor — the stream's own memory (index, workers, prefetch window).
 *
 *   BENCH_DECODE_DIR=<folder or shards dir>   default: a generated folder of BENCH_DECODE_GENERATE (300) images
 *   BENCH_DECODE_WORKERS=n                    decode threads (default: cores − 1, 1..4)
 *   node --conditions=@ssl/source --import tsx packages/core/bench/decode-folder.ts   (or pnpm bench -- --only decode-folder)
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { applyViews, colorJitterOp } from '../src/augment/index';
import type { ViewPolicy, ViewSpec } from '../src/augment/policies';
import { hostBatchToTensors } from '../src/data/batches';
import { ImageStream } from '../src/data/stream/image-stream';
import { buildSampleIndex } from '../src/data/stream/sample-index';
import { createEncoder } from '../src/nn/create-encoder';
import { Random } from '../src/random';
import { variableGrads } from '../src/train/gradients';
import { makeDecodeFolder } from './make-decode-folder';
import { ParameterStore, applyDense, dense, ntXentLoss } from './workloads/ops';

const BATCH_SIZE = 256;
const SIZE = 32;

function environmentInteger(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${text}`);
  return value;
}

function format(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/** The SimCLR recipe's view (appendix A), from core's ops: @ssl/contrastive owns the policy, core cannot import it. */
function simclrView(name: string): ViewSpec {
  return {
    name,
    ops: [
      { op: 'randomResizedCrop', scale: [0.08, 1], ratio: [3 / 4, 4 / 3] },
      { op: 'horizontalFlip', p: 0.5 },
      colorJitterOp(2, 0.8),
      { op: 'randomGrayscale', p: 0.2 },
      { op: 'gaussianBlur', sigma: [0.1, 2.0], p: 0.5 },
    ],
  };
}

/** One SimCLR step on a batch of images: views, encoder, projection, NT-Xent (temperature 0.5), Adam. */
function simclrStep(): { step(images: tf.Tensor4D, rng: Random): number; dispose(): void } {
  const encoder = createEncoder({ kind: 'cnn', inputShape: [SIZE, SIZE, 3] });
  const store = new ParameterStore();
  const projection = [dense(store, encoder.featureDim, 128), dense(store, 128, 128)];
  const variables = [...encoder.model.trainableWeights.map((w) => w.read() as tf.Variable), ...store.variables];
  const optimizer: tf.Optimizer = tf.train.adam(1e-3);
  const policy: ViewPolicy = { name: 'simclr', views: [simclrView('view-1'), simclrView('view-2')] };
  return {
    step(images, rng) {
      const views = applyViews(policy, images, rng);
      const { value, grads } = variableGrads(() => {
        const features = encoder.features(tf.concat(views, 0) as tf.Tensor4D, { training: true });
        const z = applyDense(projection[1], tf.relu(applyDense(projection[0], features))) as tf.Tensor2D;
        const n = images.shape[0];
        return ntXentLoss(z.slice([0, 0], [n, -1]), z.slice([n, 0], [n, -1]), 0.5);
      }, variables);
      optimizer.applyGradients(grads);
      tf.dispose([...views, ...Object.values(grads)]);
      const loss = value.dataSync()[0];
      value.dispose();
      return loss;
    },
    dispose() {
      encoder.model.dispose();
      store.dispose();
      optimizer.dispose();
    },
  };
}

async function benchDirectory(): Promise<string> {
  const given = process.env.BENCH_DECODE_DIR;
  if (given) return given;
  const count = environmentInteger('BENCH_DECODE_GENERATE', 300);
  const dir = join(tmpdir(), `ssl-bench-decode-${count}`);
  if (!existsSync(join(dir, 'class_9'))) await makeDecodeFolder(dir, count, 0);
  return dir;
}

export async function benchDecodeFolder(): Promise<string> {
  const dir = await benchDirectory();
  const steps = Math.max(1, environmentInteger('BENCH_STEPS', 10));
  const warmup = environmentInteger('BENCH_WARMUP', 2);
  const workers = process.env.BENCH_DECODE_WORKERS ? environmentInteger('BENCH_DECODE_WORKERS', 1) : undefined;
  const indexStart = performance.now();
  const index = buildSampleIndex(dir, { cache: false });
  const indexSeconds = (performance.now() - indexStart) / 1000;
  const limit = environmentInteger('BENCH_DECODE_IMAGES', index.keys.length);
  const stream = ImageStream.open(dir, { size: [SIZE, SIZE], channels: 3, seed: 0, workers, onWarning: () => {} });
  // Decoding alone.
  let decoded = 0;
  const decodeStart = performance.now();
  const decodeCpuStart = process.cpuUsage();
  for await (const batch of stream.batches(0, BATCH_SIZE, { dropLast: false })) {
    decoded += batch.ids.length;
    if (decoded >= limit) break;
  }
  const decodeSeconds = (performance.now() - decodeStart) / 1000;
  const decodeCpu = process.cpuUsage(decodeCpuStart);
  // Peak RSS so far: the stream's share (index, decode workers, prefetch window) before any tensor exists.
  const decodeRssMb = process.resourceUsage().maxRSS / 1024;
  // The step alone, on one batch of real images.
  const step = simclrStep();
  const rng = new Random(0);
  const first = (await stream.batches(1, BATCH_SIZE).next()).value;
  if (!first) throw new Error(`${dir} holds fewer than ${BATCH_SIZE} decodable images: give a larger BENCH_DECODE_DIR.`);
  const images = hostBatchToTensors({ images: first.images, indices: first.ids }, stream.shape).images;
  const alone: number[] = [];
  let stepCpuMicros = 0;
  for (let i = 0; i < warmup + steps; i++) {
    const started = performance.now();
    const cpuStart = process.cpuUsage();
    step.step(images, rng);
    const cpu = process.cpuUsage(cpuStart);
    if (i >= warmup) {
      alone.push((performance.now() - started) / 1000);
      stepCpuMicros += cpu.user + cpu.system;
    }
  }
  images.dispose();
  // The step fed by the stream: batch wait + upload + step, as a training loop sees it.
  const fed: number[] = [];
  let seen = 0;
  let epoch = 2;
  while (seen < steps) {
    let started = performance.now();
    for await (const batch of stream.batches(epoch, BATCH_SIZE)) {
      const tensors = hostBatchToTensors({ images: batch.images, indices: batch.ids }, stream.shape);
      step.step(tensors.images, rng);
      tensors.images.dispose();
      fed.push((performance.now() - started) / 1000);
      started = performance.now();
      if (++seen >= steps) break;
    }
    epoch++;
  }
  step.dispose();
  const corrupt = stream.corrupt.count;
  await stream.close();
  const imagesPerSecond = decoded / decodeSeconds;
  const stepImagesPerSecond = BATCH_SIZE / median(alone);
  const fedImagesPerSecond = BATCH_SIZE / median(fed);
  const rssMb = process.resourceUsage().maxRSS / 1024;
  // CPU time per image (all threads of the process): what each costs whatever else runs on the machine.
  const decodeCpuMs = (decodeCpu.user + decodeCpu.system) / 1000 / decoded;
  const stepCpuMs = stepCpuMicros / 1000 / (steps * BATCH_SIZE);
  return (
    `bench decode-folder images_per_s=${format(imagesPerSecond)} step_images_per_s=${format(stepImagesPerSecond)} ` +
    `ratio=${(imagesPerSecond / stepImagesPerSecond).toFixed(2)} fed_step_images_per_s=${format(fedImagesPerSecond)} ` +
    `decode_cpu_ms_per_image=${format(decodeCpuMs)} step_cpu_ms_per_image=${format(stepCpuMs)} ` +
    `rss_mb=${format(rssMb)} decode_rss_mb=${format(decodeRssMb)} images=${decoded} corrupt=${corrupt} set=${index.kind}:${index.keys.length} index_s=${format(indexSeconds)} ` +
    `decoder=${stream.pool.decoder} workers=${stream.pool.workers} backend=${tf.getBackend()}`
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await import('../src/setup');
  const { initBackend } = await import('../src/backend/index');
  await initBackend({});
  console.log(await benchDecodeFolder());
}
