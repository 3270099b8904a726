/**
 * Conv2DBackpropFilter on the SimCLR CNN's three layer shapes (batch 512 = two views of 256), for every
 * filter-gradient arrangement: min ms of 5 runs and GFLOP/s. Threads as initBackend() picks (SSL_THREADS).
 *
 *   node --conditions=@ssl/source --import tsx bench/fg-layers.ts [methods=simd,batch-as-channels,transposed-patches,patches-as-weights]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src';
import { setConv2dFilterGradientMethod, type FilterGradientMethod } from '../src/backend/kernels/conv2d-backprop';

await initBackend({ log: () => {} });
const layers: Array<{ input: [number, number, number, number]; outChannels: number }> = [
  { input: [512, 28, 28, 1], outChannels: 32 },
  { input: [512, 14, 14, 32], outChannels: 64 },
  { input: [512, 7, 7, 64], outChannels: 128 },
];
const methods = (process.argv[2] ?? 'simd,batch-as-channels,transposed-patches,patches-as-weights').split(',') as FilterGradientMethod[];
for (const { input, outChannels } of layers) {
  const [batch, height, width, inChannels] = input;
  const x = tf.randomNormal(input);
  const dy = tf.randomNormal([batch, height, width, outChannels]);
  const flops = 2 * batch * height * width * 9 * inChannels * outChannels;
  for (const method of methods) {
    setConv2dFilterGradientMethod(method);
    const ms: number[] = [];
    for (let i = 0; i < 6; i++) {
      const start = performance.now();
      const dw = tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x, dy },
          { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, inChannels, outChannels] },
        ) as tf.Tensor;
      dw.dataSync();
      dw.dispose();
      if (i > 0) ms.push(performance.now() - start);
    }
    const best = Math.min(...ms);
    console.log(
      `${JSON.stringify(input)} -> ${outChannels} ${method.padEnd(19)} ${best.toFixed(1).padStart(7)} ms ${(flops / best / 1e6).toFixed(1).padStart(5)} GFLOP/s`,
    );
  }
  x.dispose();
  dy.dispose();
}
setConv2dFilterGradientMethod('auto');
