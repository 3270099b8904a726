/**
 * The three convolution kernels of ResNet-18's 3x3 layers at batch 256 (two views of resnet18-cifar32's 128),
 * by XNNPACK's direct convolution and by Winograd F(4x4, 3x3) (src/backend/kernels/winograd.ts): min ms of 3 runs.
 *
 *   node --conditions=@ssl/source --import tsx bench/winograd-layers.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src';
import { setWinogradEnabled } from '../src/backend/kernels/winograd';

await initBackend({ log: () => {} });
const layers: Array<[number, number]> = [
  [32, 64],
  [16, 128],
  [8, 256],
  [4, 512],
];
const best = (run: () => tf.Tensor): number => {
  let min = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    const out = run();
    out.dataSync();
    out.dispose();
    min = Math.min(min, performance.now() - start);
  }
  return min;
};
const B = 256;
for (const [size, channels] of layers) {
  const x = tf.randomNormal([B, size, size, channels]) as tf.Tensor4D;
  const dy = tf.randomNormal([B, size, size, channels]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, channels, channels]) as tf.Tensor4D;
  const row: string[] = [];
  for (const mode of ['direct', 'winograd'] as const) {
    setWinogradEnabled(mode === 'winograd');
    const f = best(() => tf.conv2d(x, w, 1, 'same'));
    const i = best(
      () =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropInput',
            { dy, filter: w },
            { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: x.shape },
          ) as tf.Tensor,
    );
    const g = best(
      () =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropFilter',
            { x, dy },
            { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, channels, channels] },
          ) as tf.Tensor,
    );
    row.push(`${mode}: forward ${f.toFixed(0)} ms, input gradient ${i.toFixed(0)} ms, filter gradient ${g.toFixed(0)} ms`);
  }
  console.log(`${size}x${size}x${channels}: ${row.join(' | ')}`);
  tf.dispose([x, dy, w]);
}
