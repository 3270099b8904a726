/**
 * A/B of layer norm on wasm, forward and backward together, alternating in one process: core's `composedLayerNorm`
 * (tfjs ops, nn/layers/common.ts) against `fusedLayerNorm`, kernels.c's fused kernels (SslLayerNormForward/Backward),
 * which `layerNorm` now uses on wasm, on the shapes of one mae-vit28 step (9 encoder norms of [256, 12, 128],
 * 5 decoder norms of [256, 49, 64]) and of features-vit28 (9 of [512, 50, 128], forward only). Prints medians of
 * wall and CPU time (process CPU, all threads) and the load average.
 *
 *   node --conditions=@ssl/source --import tsx bench/layer-norm-ab.ts [repeats=15]
 */
import * as os from 'node:os';

import * as tf from '@tensorflow/tfjs-core';

await import('../src/setup');
const { initBackend } = await import('../src/backend/index');
const { composedLayerNorm, fusedLayerNorm } = await import('../src/nn/layers/common');
const info = await initBackend({ log: () => {} });
const repeats = Number(process.argv[2] ?? 15);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
console.log(
  `layer-norm-ab: ${info.threads} threads, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const CASES: Array<[string, number[], number, boolean]> = [
  ['mae encoder norm, forward+backward', [256, 12, 128], 9, true],
  ['mae decoder norm, forward+backward', [256, 49, 64], 5, true],
  ['vit features norm, forward', [512, 50, 128], 9, false],
];
for (const [name, shape, perStep, backward] of CASES) {
  const width = shape[shape.length - 1];
  const x = tf.randomNormal(shape);
  const gamma = tf.randomNormal([width]);
  const beta = tf.randomNormal([width]);
  const dy = tf.randomNormal(shape);
  const wall: Record<string, number[]> = { ops: [], fused: [] };
  const cpu: Record<string, number[]> = { ops: [], fused: [] };
  for (let i = 0; i < repeats; i++) {
    for (const [mode, norm] of [
      ['ops', composedLayerNorm],
      ['fused', fusedLayerNorm],
    ] as const) {
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      tf.tidy(() => {
        if (!backward) return void norm(x, gamma, beta, 1e-5).dataSync();
        const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(norm(a, g, b, 1e-5), dy)))([x, gamma, beta]);
        grads[0].dataSync();
      });
      wall[mode].push(performance.now() - start);
      const used = process.cpuUsage(cpuStart);
      cpu[mode].push((used.user + used.system) / 1000);
    }
  }
  const [opsWall, fusedWall, opsCpu, fusedCpu] = [median(wall.ops), median(wall.fused), median(cpu.ops), median(cpu.fused)];
  console.log(
    `${name} ${JSON.stringify(shape)}: ops ${opsWall.toFixed(2)} ms (cpu ${opsCpu.toFixed(2)}) | fused ${fusedWall.toFixed(2)} ms (cpu ${fusedCpu.toFixed(2)}) | ` +
      `wall ${(opsWall / fusedWall).toFixed(2)}x cpu ${(opsCpu / fusedCpu).toFixed(2)}x; ×${perStep} per step: ` +
      `${(perStep * (opsWall - fusedWall)).toFixed(0)} ms wall, ${(perStep * (opsCpu - fusedCpu)).toFixed(0)} ms cpu saved`,
  );
  tf.dispose([x, gamma, beta, dy]);
}
console.log(
  `load average at the end ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
