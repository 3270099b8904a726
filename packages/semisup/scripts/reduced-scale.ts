/**
 * One semi-supervised candidate at a reduced scale, for ranking recipes before a full-data queue run (issue 32,
 * acceptance 4): a seeded subset of the Fashion-MNIST training images (k labels per class drawn from it, the rest
 * unlabeled), a step cap, and the run's own classifier (FixMatch: its EMA model) scored on the 10 000 test images.
 * Optionally the encoder starts from a finished `ssl pretrain` run (core's `initialEncoder`, as `ssl semisup --init`).
 *
 *   node --conditions=@ssl/source --import tsx packages/semisup/scripts/reduced-scale.ts \
 *     --name fixmatch-barlow --method '{"unlabeledRatio":3}' --init /work/fulldata-runs/barlow-twins-cnn-8ep \
 *     --steps 1000 --images 10000 [--labels-per-class 10] [--seed 0] [--lr 0.1] [--batch-size 16] [--channels 32,64,128]
 *
 * Prints one JSON line (accuracies, ms per step, final mask rate) and appends it to --results if given.
 */
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, initBackend, labeledSplit, loadFashionMnist, loadRun, Random, subset, train } from '@ssl/core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { Encoder } from '@ssl/core';
import semisup, { classify, predictClasses } from '../src/index';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    method: { type: 'string', default: 'semisup:fixmatch' },
    config: { type: 'string', default: '{}' },
    init: { type: 'string' },
    steps: { type: 'string', default: '1000' },
    images: { type: 'string', default: '10000' },
    'labels-per-class': { type: 'string', default: '10' },
    seed: { type: 'string', default: '0' },
    lr: { type: 'string', default: '0.1' },
    'batch-size': { type: 'string', default: '16' },
    channels: { type: 'string', default: '32,64,128' },
    results: { type: 'string' },
  },
});

const seed = Number(values.seed);
const steps = Number(values.steps);
await initBackend({ log: () => {} });
const full = await loadFashionMnist({ split: 'train', source: 'full' });
const test = await loadFashionMnist({ split: 'test', source: 'full' });
// A seeded subset of the training images: the labeled split and the unlabeled pool both come from it.
const order = Array.from({ length: full.size }, (_, i) => i);
new Random(1000 + seed).shuffle(order);
const pool = subset(
  full,
  order.slice(0, Number(values.images)).sort((a, b) => a - b),
  `fashion-mnist/train[${values.images}]`,
);
const data = labeledSplit(pool, { perClass: Number(values['labels-per-class']), seed });

const channels = values.channels!.split(',').map(Number);
const encoder = { kind: 'cnn', inputShape: [28, 28, 1], ...(channels.join() === '32,64,128' ? {} : { channels }) } as const;
const start = values.init ? await loadRun(values.init) : undefined;
const method = createRegistry()
  .use(semisup())
  .create(values.method!, JSON.parse(values.config!) as Record<string, unknown>);
const started = performance.now();
const cpuBefore = process.cpuUsage();
const run = await train({
  method,
  data,
  encoder,
  epochs: steps,
  maxSteps: steps,
  batchSize: Number(values['batch-size']),
  optimizer: { lr: Number(values.lr) },
  seed,
  ...(start?.encoder ? { initialEncoder: { encoder: start.encoder as Encoder, from: values.init! } } : {}),
});
const seconds = (performance.now() - started) / 1000;
// CPU time over all threads: what a quiet machine needs at most (load stretches the wall clock, barely this).
const cpu = process.cpuUsage(cpuBefore);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;

function accuracyOf(model: 'ema' | 'student'): number {
  const images = tf.tensor4d(
    Float32Array.from(test.images, (v) => v / 255),
    [test.size, 28, 28, 1],
  ) as Tensor4D;
  try {
    const predicted =
      method.id === 'semisup:fixmatch'
        ? classify(run.runtime, images, { model })
        : predictClasses(run.runtime, images, model === 'student' ? { model } : {});
    const labels = predicted.dataSync();
    predicted.dispose();
    let correct = 0;
    for (let i = 0; i < test.size; i++) if (labels[i] === test.labels![i]) correct++;
    return correct / test.size;
  } finally {
    images.dispose();
  }
}

const stepSeconds = run.history.map((r) => r.seconds).sort((a, b) => a - b);
const tail = run.history.slice(-50);
const line = {
  name: values.name ?? values.method,
  method: method.id,
  config: JSON.parse(values.config!) as unknown,
  init: values.init ?? null,
  steps: run.steps,
  images: Number(values.images),
  labelsPerClass: Number(values['labels-per-class']),
  seed,
  lr: Number(values.lr),
  batchSize: Number(values['batch-size']),
  channels,
  accuracy: accuracyOf('ema'),
  student: method.id === 'semisup:fixmatch' ? accuracyOf('student') : null,
  maskRateLast50:
    tail.length && tail[0].metrics.maskRate !== undefined ? tail.reduce((a, r) => a + r.metrics.maskRate, 0) / tail.length : null,
  msPerStepMedian: Math.round(1000 * stepSeconds[Math.floor(stepSeconds.length / 2)]),
  cpuMsPerStep: Math.round((1000 * cpuSeconds) / Math.max(1, run.steps)),
  trainMinutes: Math.round((seconds / 60) * 10) / 10,
  load: (await import('node:os')).loadavg()[0],
  finished: new Date().toISOString(),
};
console.log(JSON.stringify(line));
if (values.results) appendFileSync(values.results, `${JSON.stringify(line)}\n`);
run.dispose();
start?.dispose();
