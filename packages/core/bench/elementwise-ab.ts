/**
 * A/B of the element-wise kernels around a CNN's convolutions — Cast, Relu, Step, Multiply, Add — between
 * tfjs-backend-wasm's stock kernels and @ssl's (identity.ts: a cast to the same dtype shares the data;
 * elementwise.ts: four lanes, both threads), alternating in one process: first each op on the simclr-cnn28 shapes,
 * then whole training steps. Prints medians of wall and CPU time (process CPU, all threads) per variant, and the
 * load average.
 *
 *   node --conditions=@ssl/source --import tsx bench/elementwise-ab.ts [workloads=simclr-cnn28] [repeats=9] [step pairs=5]
 */
import * as os from 'node:os';

import * as tf from '@tensorflow/tfjs-core';

await import('../src/setup');
const { initBackend } = await import('../src/backend/index');
const { replacedWasmKernel } = await import('../src/backend/kernels/wasm-internals');
const { castConfig } = await import('../src/backend/kernels/identity');
const { addConfig, multiplyConfig, reluConfig, stepConfig } = await import('../src/backend/kernels/elementwise');
const info = await initBackend({ log: () => {} });
const names = (process.argv[2] ?? 'simclr-cnn28').split(',');
const repeats = Number(process.argv[3] ?? 9);
const stepPairs = Number(process.argv[4] ?? 5);

const OURS = [castConfig, reluConfig, stepConfig, multiplyConfig, addConfig];
const STOCK = OURS.map((config) => {
  const stock = replacedWasmKernel(config.kernelName);
  if (stock === undefined) throw new Error(`the stock wasm ${config.kernelName} kernel was not replaced`);
  return stock;
});
const VARIANTS = ['stock', 'ssl'] as const;
type Variant = (typeof VARIANTS)[number];

function use(variant: Variant): void {
  for (const config of variant === 'stock' ? STOCK : OURS) {
    tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel({ ...config, backendName: 'wasm' });
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function alternate(run: () => void, pairs: number): string {
  const wall: Record<Variant, number[]> = { stock: [], ssl: [] };
  const cpu: Record<Variant, number[]> = { stock: [], ssl: [] };
  for (let i = 0; i < pairs; i++) {
    for (const variant of VARIANTS) {
      use(variant);
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      run();
      wall[variant].push(performance.now() - start);
      const used = process.cpuUsage(cpuStart);
      cpu[variant].push((used.user + used.system) / 1000);
    }
  }
  use('ssl');
  const [a, b, c, d] = [median(wall.stock), median(wall.ssl), median(cpu.stock), median(cpu.ssl)];
  return (
    `stock ${a.toFixed(1)} ms (cpu ${c.toFixed(1)}) | ssl ${b.toFixed(1)} ms (cpu ${d.toFixed(1)}) | ` +
    `wall ${(a / b).toFixed(2)}x cpu ${(c / d).toFixed(2)}x   load ${os.loadavg()[0].toFixed(2)}`
  );
}

console.log(`elementwise-ab: ${info.threads} threads, load average ${load()}`);
// simclr-cnn28's three layers at batch 512 (two views of 256): conv output [512, s, s, c] and its bias [c].
for (const [size, channels] of [
  [28, 32],
  [14, 64],
  [7, 128],
]) {
  const shape = [512, size, size, channels];
  const x = tf.randomNormal(shape);
  const dy = tf.randomNormal(shape);
  const bias = tf.randomNormal([channels]);
  const ops: Array<[string, () => tf.Tensor]> = [
    ['add bias', () => tf.add(x, bias)],
    ['relu', () => tf.relu(x)],
    ['step', () => tf.step(x)],
    ['cast float32', () => tf.cast(x, 'float32')],
    ['multiply', () => tf.mul(dy, x)],
  ];
  for (const [name, op] of ops) {
    // wasm kernels run synchronously: no read-back, which would add a copy of the output to both sides.
    const line = alternate(() => op().dispose(), repeats);
    console.log(`${`${name} ${JSON.stringify(shape)}`.padEnd(36)} ${line}`);
  }
  tf.dispose([x, dy, bias]);
}
const workloads: Record<string, () => Promise<() => { step(): number; dispose(): void }>> = {
  'simclr-cnn28': async () => (await import('./workloads/simclr-cnn28')).simclrCnn28,
  'resnet18-cifar32': async () => (await import('./workloads/resnet18-cifar32')).resnet18Cifar32,
};
for (const name of names) {
  if (stepPairs === 0) break;
  const workload = (await workloads[name]())();
  workload.step();
  workload.step();
  console.log(`${`${name} step`.padEnd(36)} ${alternate(() => workload.step(), stepPairs)}`);
  workload.dispose();
}
console.log(`load average at the end ${load()}`);
