/**
 * Pixel statistics of contrastive:simclr's two views (the `simclr` policy with SIMCLR_FASHION_VIEWS, or
 * `--views` overrides) on the first `--count` Fashion-MNIST training images, to set beside the same statistics of
 * a torchvision pipeline (`simclr_peer.py --view-stats`): how bright and how contrasted the views are, how far
 * each is from its image and how alike the two views are. Prints one JSON line.
 *
 *   node --conditions=@ssl/source --import tsx packages/contrastive/scripts/simclr-view-stats.ts [--count 2000] [--views '{"blurP":0}']
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { Random, applyViews, createViewPolicy, initBackend, loadFashionMnist } from '@ssl/core';
import { SIMCLR_FASHION_VIEWS } from '../src/index';
import { simclrViews } from '../src/views/simclr-views';

const { values } = parseArgs({
  options: { count: { type: 'string', default: '2000' }, views: { type: 'string', default: '{}' }, seed: { type: 'string', default: '0' } },
});

/** The statistics simclr_peer.py's `view_stats` prints, on [N, 784] rows. */
function viewStatistics(original: Float32Array, view1: Float32Array, view2: Float32Array, count: number) {
  const size = original.length / count;
  let mean = 0;
  let imageStd = 0;
  let cosine = 0;
  let changed = 0;
  for (let i = 0; i < count; i++) {
    for (const view of [view1, view2]) {
      let sum = 0;
      let squares = 0;
      for (let j = 0; j < size; j++) {
        const x = view[i * size + j];
        sum += x;
        squares += x * x;
        changed += Math.abs(x - original[i * size + j]);
      }
      mean += sum / size;
      imageStd += Math.sqrt(Math.max(0, squares / size - (sum / size) ** 2));
    }
    let dot = 0;
    let norm1 = 0;
    let norm2 = 0;
    for (let j = 0; j < size; j++) {
      const a = view1[i * size + j];
      const b = view2[i * size + j];
      dot += a * b;
      norm1 += a * a;
      norm2 += b * b;
    }
    cosine += dot / Math.sqrt(norm1 * norm2 + 1e-12);
  }
  return {
    meanPixel: mean / (2 * count),
    meanImageStd: imageStd / (2 * count),
    meanAbsChange: changed / (2 * count * size),
    viewCosine: cosine / count,
  };
}

await initBackend({ backend: 'wasm', log: () => {} });
const count = Number(values.count);
const train = await loadFashionMnist({ split: 'train', source: 'auto' });
const pixels = Float32Array.from(train.images.subarray(0, count * 28 * 28), (byte) => byte / 255);
const images = tf.tensor4d(pixels, [count, 28, 28, 1]);
const policy = createViewPolicy(simclrViews, { ...SIMCLR_FASHION_VIEWS, ...(JSON.parse(values.views!) as object) });
const [view1, view2] = applyViews(policy, images, new Random(Number(values.seed))) as [tf.Tensor4D, tf.Tensor4D];
const stats = viewStatistics(images.dataSync() as Float32Array, view1.dataSync() as Float32Array, view2.dataSync() as Float32Array, count);
console.log(JSON.stringify({ side: '@ssl', count, ...stats }));
