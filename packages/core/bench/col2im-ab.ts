/**
 * A/B of col2im (the second half of a strided convolution's input gradient: dx = Σ of the patch gradients over the
 * windows) between the JS loop and kernels.c's `col2im` on one thread, alternating in one process, on
 * resnet18-cifar32's downsampling layers (batch 256). Prints medians of CPU time, the largest difference between
 * the two results, and the load average.
 *
 *   node --conditions=@ssl/source --import tsx bench/col2im-ab.ts [repeats=7]
 */
import * as os from 'node:os';

import * as tf from '@tensorflow/tfjs-core';

await import('../src/setup');
const { initBackend } = await import('../src/backend/index');
const { col2im } = await import('../src/backend/kernels/conv2d-backprop');
const { simdKernels } = await import('../src/backend/kernels/simd/simd-kernels');
const { asWasmBackend, heapFloat32, heapIndex, heapOffset } = await import('../src/backend/kernels/wasm-internals');
await initBackend({ log: () => {} });
const repeats = Number(process.argv[2] ?? 7);
const backend = asWasmBackend(tf.backend());
const kernels = simdKernels(backend);
if (kernels === undefined) throw new Error('the SIMD module does not run here');
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const cpuMs = (run: () => void): number => {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

console.log(
  `col2im-ab: load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (const [size, channels, kernel] of [
  [32, 64, 3],
  [16, 128, 3],
  [8, 256, 3],
  [32, 64, 1],
  [16, 128, 1],
]) {
  const info = tf.backend_util.computeConv2DInfo(
    [256, size, size, channels],
    [kernel, kernel, channels, 2 * channels],
    2,
    1,
    kernel === 3 ? 'same' : 'valid',
    undefined,
    false,
    'channelsLast',
  );
  const patchGradient = tf.randomNormal([256 * info.outHeight * info.outWidth, kernel * kernel * channels]);
  const dx = tf.zeros([256, size, size, channels]);
  const js: number[] = [];
  const simd: number[] = [];
  let worst = 0;
  for (let i = 0; i < repeats; i++) {
    js.push(cpuMs(() => col2im(heapFloat32(backend), heapIndex(backend, patchGradient), heapIndex(backend, dx), info)));
    const reference = i === 0 ? dx.dataSync().slice() : undefined;
    simd.push(
      cpuMs(() =>
        kernels.col2im(
          heapOffset(backend, patchGradient),
          heapOffset(backend, dx),
          256,
          size,
          size,
          channels,
          info.outHeight,
          info.outWidth,
          kernel,
          kernel,
          2,
          2,
          1,
          1,
          info.padInfo.top,
          info.padInfo.left,
        ),
      ),
    );
    if (reference !== undefined) {
      const values = dx.dataSync();
      for (let j = 0; j < values.length; j++) worst = Math.max(worst, Math.abs(values[j] - reference[j]));
    }
  }
  console.log(
    `${kernel}×${kernel}/2 ${size}²×${channels}: js ${median(js).toFixed(1)} ms cpu | simd ${median(simd).toFixed(1)} ms cpu | ` +
      `${(median(js) / median(simd)).toFixed(2)}x, max |simd − js| ${worst}   load ${os.loadavg()[0].toFixed(2)}`,
  );
  tf.dispose([patchGradient, dx]);
}
