/**
 * Training-step benchmark: @ssl (tfjs wasm, chosen by initBackend) against PyTorch on the same machine,
 * same run, same architectures, batches and optimizers (bench/torch_workloads.py). One line per workload:
 *
 *   bench <name> ssl_ms=<median ms/step> torch_ms=<median ms/step> ratio=<ssl/torch> ssl_rss_mb=<peak> torch_rss_mb=<peak>
 *     ssl_cpu_ms=<median CPU ms/step> torch_cpu_ms=<median CPU ms/step> cpu_ratio=<ssl/torch>
 *
 * CPU time is the process's, all threads (tfjs's pool and @ssl's helper thread; PyTorch's OpenMP threads): on a
 * machine that other work loads, wall time says little and CPU time is the steadier comparison.
 *
 * The inference workloads (`features-*`: a batch of 512 images through the encoder, no gradients) print
 * images per second instead, `ssl_img_s=<…> torch_img_s=<…> ratio=<torch/ssl>`: the ratio stays the time ratio.
 *
 * followed by a `profile <name> ...` line with the kernels @ssl spends a step in. Each side runs in its
 * own process, one after the other, so peak RSS is per workload and the two never compete for cores.
 *
 *   pnpm bench                          all workloads
 *   pnpm bench -- --only simclr-cnn28   some (comma-separated)
 *   pnpm bench -- --only decode-folder  image decoding against a SimCLR step (BENCH_DECODE_DIR=<folder or shards>)
 *   BENCH_STEPS=3 BENCH_WARMUP=1 pnpm bench   smoke run (defaults: 10 timed steps after 2 warm-up)
 *   BENCH_THREADS=2                     threads on both sides (default: os.availableParallelism())
 *   BENCH_PYTHON=/path/to/python        interpreter with torch (default: /usr/bin/python3, then python3)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import type { TrainingStep } from './workloads/ops';

const benchDirectory = path.dirname(fileURLToPath(import.meta.url));

const WORKLOADS: Record<string, () => Promise<() => TrainingStep>> = {
  'simclr-cnn28': async () => (await import('./workloads/simclr-cnn28')).simclrCnn28,
  'resnet18-cifar32': async () => (await import('./workloads/resnet18-cifar32')).resnet18Cifar32,
  'mae-vit28': async () => (await import('./workloads/mae-vit28')).maeVit28,
  'dino-multicrop28': async () => (await import('./workloads/dino-multicrop28')).dinoMulticrop28,
  'dino-vit28-multicrop': async () => (await import('./workloads/dino-vit28-multicrop')).dinoVit28Multicrop,
  'fixmatch-cnn28-b16': async () => (await import('./workloads/fixmatch-cnn28-b16')).fixmatchCnn28B16,
  'features-cnn28': async () => (await import('./workloads/features28')).featuresCnn28,
  'features-vit28': async () => (await import('./workloads/features28')).featuresVit28,
};
const AUGMENT_BENCH = 'augment-simclr28';
/** Decode throughput of an ImageStream against a SimCLR step (decode-folder.ts; BENCH_DECODE_DIR picks the folder). */
const DECODE_BENCH = 'decode-folder';
/** Benches that print their own `bench …` line (no PyTorch twin). */
const LINE_BENCHES: Record<string, { file: string; run: string }> = {
  [AUGMENT_BENCH]: { file: `${AUGMENT_BENCH}.ts`, run: 'benchAugmentSimclr28' },
  [DECODE_BENCH]: { file: `${DECODE_BENCH}.ts`, run: 'benchDecodeFolder' },
};

interface Measurement {
  ms: number[];
  /** CPU ms of each timed step, all threads of the process. */
  cpu_ms: number[];
  rss_mb: number;
}

const steps = positiveInteger('BENCH_STEPS', 10);
const warmup = nonNegativeInteger('BENCH_WARMUP', 2);
const threads = positiveInteger('BENCH_THREADS', os.availableParallelism());

function positiveInteger(name: string, fallback: number): number {
  const value = process.env[name] === undefined || process.env[name] === '' ? fallback : Number(process.env[name]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be an integer >= 1, got ${process.env[name]}`);
  return value;
}

function nonNegativeInteger(name: string, fallback: number): number {
  const value = process.env[name] === undefined || process.env[name] === '' ? fallback : Number(process.env[name]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be an integer >= 0, got ${process.env[name]}`);
  return value;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function format(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

/** Child mode: runs one @ssl workload (or the augmentation bench) and prints its result as JSON. */
async function runChild(name: string): Promise<void> {
  await import('../src/setup');
  const { initBackend } = await import('../src/backend/index');
  await initBackend({ threads });
  if (name in LINE_BENCHES) {
    const bench = LINE_BENCHES[name];
    const module = (await import(pathToFileURL(path.join(benchDirectory, bench.file)).href)) as Record<string, () => Promise<string>>;
    process.stdout.write(`${JSON.stringify({ line: await module[bench.run]() })}\n`);
    return;
  }
  const tf = await import('@tensorflow/tfjs-core');
  const workload = (await WORKLOADS[name]())();
  for (let i = 0; i < warmup; i++) workload.step();
  const ms: number[] = [];
  const cpuMs: number[] = [];
  let loss = Number.NaN;
  for (let i = 0; i < steps; i++) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    loss = workload.step();
    ms.push(performance.now() - start);
    const cpu = process.cpuUsage(cpuStart);
    cpuMs.push((cpu.user + cpu.system) / 1000);
  }
  // Peak RSS of the steps, read before the profiled step: tf.profile copies every kernel's output to JS (tfjs-core's
  // CHECK_COMPUTATION_FOR_ERRORS reads each one, and the copies live until the step returns), so the profiled step's
  // peak is not a training step's (PyTorch's twin is not profiled).
  const rssMb = process.resourceUsage().maxRSS / 1024; // KiB
  const tensorsBefore = tf.memory().numTensors;
  const perKernel = await workload.profile();
  const leaked = tf.memory().numTensors - tensorsBefore;
  const profiledRssMb = process.resourceUsage().maxRSS / 1024;
  workload.dispose();
  const imagesPerStep = workload.imagesPerStep;
  process.stdout.write(
    `${JSON.stringify({ ms, cpu_ms: cpuMs, rss_mb: rssMb, profiled_rss_mb: profiledRssMb, loss, leaked, kernels: Object.fromEntries(perKernel), imagesPerStep })}\n`,
  );
}

type SslMeasurement = Measurement & { loss: number; leaked: number; kernels: Record<string, number>; imagesPerStep?: number };

function runSsl(name: string): SslMeasurement | string {
  const result = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', name], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) return `@ssl ${name} failed (exit ${result.status ?? result.signal})`;
  const lastLine = result.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(lastLine) as SslMeasurement;
}

function pythonWithTorch(): string | undefined {
  const candidates = process.env.BENCH_PYTHON ? [process.env.BENCH_PYTHON] : ['/usr/bin/python3', 'python3'];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
    if (probe.status === 0) return python;
  }
  return undefined;
}

function runTorch(python: string, name: string): Measurement | string {
  const script = path.join(benchDirectory, 'torch_workloads.py');
  const result = spawnSync(python, [script, name, String(steps), String(warmup), String(threads)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (result.status !== 0) return `torch ${name} failed (exit ${result.status ?? result.signal})`;
  return JSON.parse(result.stdout.trim().split('\n').pop() ?? '') as Measurement;
}

function profileLine(name: string, kernels: Record<string, number>): string {
  const entries = Object.entries(kernels).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((sum, [, ms]) => sum + ms, 0);
  const top = entries
    .slice(0, 10)
    .map(([kernel, ms]) => `${kernel}=${format(ms)}ms(${((100 * ms) / total).toFixed(0)}%)`)
    .join(' ');
  return `profile ${name} kernel_total_ms=${format(total)} ${top}`;
}

function selectedWorkloads(argv: string[]): string[] {
  const onlyIndex = argv.indexOf('--only');
  const inline = argv.find((arg) => arg.startsWith('--only='));
  const only = inline !== undefined ? inline.slice('--only='.length) : onlyIndex >= 0 ? argv[onlyIndex + 1] : undefined;
  if (only === undefined) return [...Object.keys(WORKLOADS), ...Object.keys(LINE_BENCHES)];
  const names = only.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(name in WORKLOADS) && !(name in LINE_BENCHES)) {
      throw new Error(`Unknown workload "${name}": use one of ${[...Object.keys(WORKLOADS), ...Object.keys(LINE_BENCHES)].join(', ')}.`);
    }
  }
  return names;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const childIndex = argv.indexOf('--child');
  if (childIndex >= 0) {
    await runChild(argv[childIndex + 1]);
    return;
  }
  const names = selectedWorkloads(argv);
  const python = pythonWithTorch();
  const loadAverage = os.loadavg()[0].toFixed(2);
  process.stderr.write(
    `bench: ${steps} timed steps after ${warmup} warm-up, ${threads} threads, load average ${loadAverage}; ` +
      (python ? `PyTorch via ${python}\n` : 'PyTorch not found (set BENCH_PYTHON or apt-get install python3-torch); @ssl figures only\n'),
  );
  for (const name of names) {
    if (name in LINE_BENCHES) {
      if (!existsSync(path.join(benchDirectory, LINE_BENCHES[name].file))) continue;
      const result = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', name], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const line =
        result.status === 0 ? (JSON.parse(result.stdout.trim().split('\n').pop() ?? '') as { line: string }).line : `${name} failed`;
      console.log(line);
      continue;
    }
    const ssl = runSsl(name);
    if (typeof ssl === 'string') {
      console.log(`bench ${name} error="${ssl}"`);
      continue;
    }
    const sslMs = median(ssl.ms);
    // Inference workloads say how many images a step is; their figures are images per second.
    const inference = ssl.imagesPerStep !== undefined;
    const imagesPerSecond = (ms: number) => format((1000 * (ssl.imagesPerStep ?? 1)) / ms);
    const sslPart = inference ? `ssl_img_s=${imagesPerSecond(sslMs)}` : `ssl_ms=${format(sslMs)}`;
    const torchPart = (torchMs: number) => (inference ? `torch_img_s=${imagesPerSecond(torchMs)}` : `torch_ms=${format(torchMs)}`);
    const torch = python === undefined ? 'PyTorch not found' : runTorch(python, name);
    const sslCpuMs = median(ssl.cpu_ms);
    if (typeof torch === 'string') {
      console.log(
        `bench ${name} ${sslPart} ${inference ? 'torch_img_s' : 'torch_ms'}=n/a ratio=n/a ssl_rss_mb=${format(ssl.rss_mb)} torch_rss_mb=n/a ` +
          `ssl_cpu_ms=${format(sslCpuMs)} torch_cpu_ms=n/a cpu_ratio=n/a (${torch})`,
      );
    } else {
      const torchMs = median(torch.ms);
      const torchCpuMs = median(torch.cpu_ms);
      console.log(
        `bench ${name} ${sslPart} ${torchPart(torchMs)} ratio=${(sslMs / torchMs).toFixed(2)} ` +
          `ssl_rss_mb=${format(ssl.rss_mb)} torch_rss_mb=${format(torch.rss_mb)} ` +
          `ssl_cpu_ms=${format(sslCpuMs)} torch_cpu_ms=${format(torchCpuMs)} cpu_ratio=${(sslCpuMs / torchCpuMs).toFixed(2)}`,
      );
    }
    console.log(profileLine(name, ssl.kernels));
    if (ssl.leaked !== 0 || !Number.isFinite(ssl.loss)) {
      console.log(`warning ${name}: loss=${ssl.loss} tensors_leaked_per_step=${ssl.leaked}`);
    }
  }
}

await main();
