/**
 * A/B of single matrix products (one right matrix: dense layers, their gradients) between kernels.c's
 * two-thread GEMM and XNNPACK's fully-connected operator (one thread), alternating in one process:
 * each shape of the mae-vit28 / features-vit28 steps, then whole steps of those workloads. Prints medians of
 * wall and CPU time (process CPU, all threads) per method, and the load average, since a busy machine
 * takes the second core away from a two-thread kernel first.
 *
 *   node --conditions=@ssl/source --import tsx bench/matmul-ab.ts [repeats=9] [steps=5]
 */
import * as os from 'node:os';

import * as tf from '@tensorflow/tfjs-core';

await import('../src/setup');
const { initBackend } = await import('../src/backend/index');
const { setMatMulMethod } = await import('../src/backend/kernels/matmul');
const info = await initBackend({ log: () => {} });
const repeats = Number(process.argv[2] ?? 9);
const stepPairs = Number(process.argv[3] ?? 5);
const METHODS = ['xnnpack', 'auto'] as const;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/** Runs `run` alternately under each method; returns median wall and CPU ms per method. */
function alternate(run: () => void, pairs: number): Record<(typeof METHODS)[number], { wall: number; cpu: number }> {
  const wall: Record<string, number[]> = { xnnpack: [], auto: [] };
  const cpu: Record<string, number[]> = { xnnpack: [], auto: [] };
  for (let i = 0; i < pairs; i++) {
    for (const method of METHODS) {
      setMatMulMethod(method);
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      run();
      wall[method].push(performance.now() - start);
      const used = process.cpuUsage(cpuStart);
      cpu[method].push((used.user + used.system) / 1000);
    }
  }
  setMatMulMethod('auto');
  return {
    xnnpack: { wall: median(wall.xnnpack), cpu: median(cpu.xnnpack) },
    auto: { wall: median(wall.auto), cpu: median(cpu.auto) },
  };
}

const line = (name: string, r: ReturnType<typeof alternate>): string =>
  `${name.padEnd(34)} xnnpack ${r.xnnpack.wall.toFixed(1)} ms (cpu ${r.xnnpack.cpu.toFixed(1)}) | gemm ${r.auto.wall.toFixed(1)} ms ` +
  `(cpu ${r.auto.cpu.toFixed(1)}) | wall ${(r.xnnpack.wall / r.auto.wall).toFixed(2)}x cpu ${(r.xnnpack.cpu / r.auto.cpu).toFixed(2)}x`;

console.log(
  `matmul-ab: ${info.threads} threads, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
// [name, m, k, n, transposeA, transposeB]: the products of one mae-vit28 step (encoder 256·12 tokens of width
// 128, decoder 256·49 of width 64) and of features-vit28 (512·50 tokens of width 128).
const SHAPES: Array<[string, number, number, number, boolean, boolean]> = [
  ['mae enc qkv forward', 3072, 128, 384, false, false],
  ['mae enc qkv dx = dy·Wᵀ', 3072, 384, 128, false, true],
  ['mae enc qkv dW = xᵀ·dy', 128, 3072, 384, true, false],
  ['mae enc mlp1 forward', 3072, 128, 512, false, false],
  ['mae enc mlp1 dx', 3072, 512, 128, false, true],
  ['mae enc mlp1 dW', 128, 3072, 512, true, false],
  ['mae enc mlp2 dx', 3072, 128, 512, false, true],
  ['mae enc mlp2 dW', 512, 3072, 128, true, false],
  ['mae dec mlp1 forward', 12544, 64, 256, false, false],
  ['mae dec mlp1 dx', 12544, 256, 64, false, true],
  ['mae dec mlp1 dW', 64, 12544, 256, true, false],
  ['vit features mlp1 forward', 25600, 128, 512, false, false],
];
for (const [name, m, k, n, transposeA, transposeB] of SHAPES) {
  const a = tf.randomNormal(transposeA ? [k, m] : [m, k]) as tf.Tensor2D;
  const b = tf.randomNormal(transposeB ? [n, k] : [k, n]) as tf.Tensor2D;
  console.log(
    line(
      `${name} ${m}×${k}×${n}`,
      alternate(() => tf.matMul(a, b, transposeA, transposeB).dispose(), repeats),
    ),
  );
  tf.dispose([a, b]);
}
const { maeVit28 } = await import('./workloads/mae-vit28');
const { featuresVit28 } = await import('./workloads/features28');
for (const [name, factory] of [
  ['mae-vit28 step', maeVit28],
  ['features-vit28 step (512 images)', featuresVit28],
] as const) {
  if (stepPairs === 0) break;
  const workload = factory();
  workload.step();
  workload.step();
  console.log(
    line(
      name,
      alternate(() => workload.step(), stepPairs),
    ),
  );
  workload.dispose();
}
console.log(
  `load average at the end ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
