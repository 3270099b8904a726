/**
 * A/B of Erf on wasm, alternating in one process: kernels.c's erf_f32 (two threads) against the stock scalar
 * kernel it replaces, on the exact GELU's input in features-vit28 (one MLP block: 512·50 tokens × 512 features;
 * 4 blocks a step). Prints medians of wall and CPU time (process CPU, all threads) and the load average.
 *
 *   node --conditions=@ssl/source --import tsx bench/erf-ab.ts [repeats=15]
 */
import * as os from 'node:os';

import * as tf from '@tensorflow/tfjs-core';

await import('../src/setup');
const { initBackend } = await import('../src/backend/index');
const { replacedWasmKernel, asWasmBackend } = await import('../src/backend/kernels/wasm-internals');
const info = await initBackend({ log: () => {} });
const repeats = Number(process.argv[2] ?? 15);
const stock = replacedWasmKernel(tf.Erf);
if (stock === undefined) throw new Error('the stock wasm Erf kernel was not replaced');
const backend = asWasmBackend(tf.backend());
const x = tf.randomNormal([512 * 50, 512]);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const wall: Record<string, number[]> = { stock: [], simd: [] };
const cpu: Record<string, number[]> = { stock: [], simd: [] };
let worst = 0;
for (let i = 0; i < repeats; i++) {
  const outputs: Float32Array[] = [];
  for (const mode of ['stock', 'simd'] as const) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    if (mode === 'simd') {
      const y = tf.erf(x);
      if (i === 0) outputs.push(y.dataSync() as Float32Array);
      y.dispose();
    } else {
      const y = stock.kernelFunc({ inputs: { x }, attrs: {}, backend }) as tf.TensorInfo;
      if (i === 0) outputs.push(backend.readSync(y.dataId) as Float32Array);
      backend.disposeData(y.dataId);
    }
    wall[mode].push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu[mode].push((used.user + used.system) / 1000);
  }
  if (i === 0) for (let j = 0; j < outputs[0].length; j++) worst = Math.max(worst, Math.abs(outputs[0][j] - outputs[1][j]));
}
console.log(
  `erf-ab: ${info.threads} threads, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const [stockWall, simdWall, stockCpu, simdCpu] = [median(wall.stock), median(wall.simd), median(cpu.stock), median(cpu.simd)];
console.log(
  `Erf [25600, 512]: stock ${stockWall.toFixed(1)} ms (cpu ${stockCpu.toFixed(1)}) | simd ${simdWall.toFixed(1)} ms (cpu ${simdCpu.toFixed(1)}) | ` +
    `wall ${(stockWall / simdWall).toFixed(2)}x cpu ${(stockCpu / simdCpu).toFixed(2)}x; max |simd − stock| ${worst.toExponential(1)}`,
);
x.dispose();
