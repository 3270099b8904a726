/**
 * The SimCLR CNN step with our SIMD kernels (kernels.c) on and off, alternating, in one process:
 * prints each step's ms and the minimum per mode. Threads as initBackend() picks (SSL_THREADS).
 *
 *   node --conditions=@ssl/source --import tsx bench/simd-ab.ts [pairs=6]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src';
import { setSimdKernelsEnabled } from '../src/backend/kernels/simd/simd-kernels';
import { simclrCnn28 } from './workloads/simclr-cnn28';

const info = await initBackend({ log: () => {} });
const workload = simclrCnn28();
workload.step();
workload.step();
const times: Record<'simd' | 'xnnpack', number[]> = { simd: [], xnnpack: [] };
for (let i = 0; i < Number(process.argv[2] ?? 6); i++) {
  for (const mode of ['simd', 'xnnpack'] as const) {
    setSimdKernelsEnabled(mode === 'simd');
    const start = performance.now();
    workload.step();
    times[mode].push(performance.now() - start);
  }
}
workload.dispose();
console.log(`simclr-cnn28 step, ${info.threads} thread(s); tensors left ${tf.memory().numTensors}`);
for (const [mode, ms] of Object.entries(times))
  console.log(`${mode.padEnd(8)} ${ms.map((t) => t.toFixed(0)).join(' ')}  min ${Math.min(...ms).toFixed(0)} ms`);
