/**
 * Conv2DBackpropFilter vs the forward conv on ResNet-18's 3x3 layer shapes at batch 256 (two views of the
 * resnet18-cifar32 workload's 128): min ms of 4 runs each, GFLOP/s.
 *
 *   node --conditions=@ssl/source --import tsx bench/fg-resnet.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src';

await initBackend({ log: () => {} });
const layers: Array<[number, number]> = [[32, 64], [16, 128], [8, 256], [4, 512]];
const best = (run: () => tf.Tensor): number => {
  let min = Infinity;
  for (let i = 0; i < 4; i++) {
    const start = performance.now();
    const out = run();
    out.dataSync();
    out.dispose();
    min = Math.min(min, performance.now() - start);
  }
  return min;
};
for (const [size, channels] of layers) {
  const x = tf.randomNormal([256, size, size, channels]) as tf.Tensor4D;
  const dy = tf.randomNormal([256, size, size, channels]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, channels, channels]) as tf.Tensor4D;
  const gflop = (2 * 256 * size * size * 9 * channels * channels) / 1e9;
  const forward = best(() => tf.conv2d(x, w, 1, 'same'));
  const filter = best(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, channels, channels] }) as tf.Tensor);
  console.log(`${size}x${size}x${channels}: forward ${forward.toFixed(0)} ms (${(gflop / forward * 1e3).toFixed(1)} GFLOP/s), filter gradient ${filter.toFixed(0)} ms (${(gflop / filter * 1e3).toFixed(1)} GFLOP/s)`);
  tf.dispose([x, dy, w]);
}
