/**
 * Whole training steps A/B of the Winograd filter gradient's products: conv2d_filter_gradient per position ('rows')
 * against kernels.c's winograd_filter_products ('blocked'), alternating in one process. Prints medians of wall and CPU
 * time (process CPU, all threads) per variant, and the load average. Per-layer figures: bench/conv-ab.ts with
 * `filter filter-products`.
 *
 *   node --conditions=@ssl/source --import tsx bench/winograd-filter-ab.ts [workloads=simclr-cnn28,resnet18-cifar32] [step pairs=5]
 */
import * as os from 'node:os';

await import('../src/setup');
const { initBackend } = await import('../src/backend/index');
const { setWinogradFilterProducts } = await import('../src/backend/kernels/winograd');
const info = await initBackend({ log: () => {} });
const names = (process.argv[2] ?? 'simclr-cnn28,resnet18-cifar32').split(',');
const stepPairs = Number(process.argv[3] ?? 5);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const workloads: Record<string, () => Promise<() => { step(): number; dispose(): void }>> = {
  'simclr-cnn28': async () => (await import('./workloads/simclr-cnn28')).simclrCnn28,
  'resnet18-cifar32': async () => (await import('./workloads/resnet18-cifar32')).resnet18Cifar32,
  'dino-multicrop28': async () => (await import('./workloads/dino-multicrop28')).dinoMulticrop28,
};

console.log(
  `winograd-filter-ab: ${info.threads} threads, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const name of names) {
  const workload = (await workloads[name]())();
  workload.step();
  const wall = { rows: [] as number[], blocked: [] as number[] };
  const cpu = { rows: [] as number[], blocked: [] as number[] };
  for (let i = 0; i < stepPairs; i++) {
    for (const variant of ['rows', 'blocked'] as const) {
      setWinogradFilterProducts(variant);
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      workload.step();
      wall[variant].push(performance.now() - start);
      const used = process.cpuUsage(cpuStart);
      cpu[variant].push((used.user + used.system) / 1000);
    }
  }
  setWinogradFilterProducts('blocked');
  workload.dispose();
  const part = (variant: 'rows' | 'blocked') =>
    `${variant} ${median(wall[variant]).toFixed(0)} ms (cpu ${median(cpu[variant]).toFixed(0)})`;
  console.log(`${`${name} step`.padEnd(24)} ${part('rows')} | ${part('blocked')}   load ${os.loadavg()[0].toFixed(2)}`);
}
