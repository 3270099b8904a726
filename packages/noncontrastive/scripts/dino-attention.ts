/**
 * DINO's attention maps (Caron et al. 2021, fig. 1) from a finished run with a ViT encoder: for held-out
 * Fashion-MNIST images, the last block's attention of the class token to every patch, one row per head, beside
 * the same maps of the encoder at random init (same spec and seed), so what self-supervision changed is visible;
 * and prints, per head, the share of that attention on the garment's patches over 1 000 test images.
 *
 *   node --conditions=@ssl/source --import tsx packages/noncontrastive/scripts/dino-attention.ts \
 *     --run <run directory> --png packages/noncontrastive/docs/dino-attention.png [--count 8] [--data auto|sample|full]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { VitEncoder, createEncoder, initBackend, loadFashionMnist, loadRun, type VitSpec } from '@ssl/core';
import { greyImage, heatImage, imageGridPng, type GridImage } from '@ssl/eval';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    png: { type: 'string' },
    count: { type: 'string', default: '8' },
    data: { type: 'string', default: 'auto' },
  },
});
if (!values.run || !values.png) throw new Error('dino-attention: pass --run <run directory> and --png <output file>.');

await initBackend({ log: () => {} });
const run = await loadRun(values.run);
const trained = run.encoder;
if (!(trained instanceof VitEncoder)) {
  throw new Error(`dino-attention: the run's encoder is a ${trained?.kind ?? 'missing'}, not a ViT (train with --encoder vit28).`);
}
const control = createEncoder(trained.spec as VitSpec) as VitEncoder;
const test = await loadFashionMnist({ split: 'test', source: values.data as 'auto' | 'sample' | 'full' });
const count = Number(values.count);
const [height, width] = test.shape;
// One image of each class first, so the picture shows different shapes.
const picked: number[] = [];
for (let label = 0; picked.length < count && label < 10; label++) picked.push(test.labels!.indexOf(label));
const pixels = picked.map((i) => Float32Array.from(test.images.subarray(i * height * width, (i + 1) * height * width), (v) => v / 255));
const images = tf.tensor4d(
  pixels.flatMap((image) => Array.from(image)),
  [count, height, width, 1],
);

/** Rows of heat maps, one per head, of one encoder. */
function attentionRows(encoder: VitEncoder): GridImage[][] {
  const maps = encoder.classTokenAttention(images);
  const [, heads, rows, columns] = maps.shape;
  const values = maps.arraySync();
  maps.dispose();
  return Array.from({ length: heads }, (_, h) => values.map((perImage) => heatImage(perImage[h].flat(), columns, rows, encoder.patchSize)));
}

/** A patch belongs to the garment when its mean pixel exceeds this (the background is black: 0). */
const GARMENT_LEVEL = 0.05;

/**
 * What the picture shows, as figures over the first `count` test images: the share of each head's class-token
 * attention (among the patches: the class token's own share left out) that falls on garment patches, and the share
 * uniform attention would give — above it, a head attends to the object; below, to the background.
 */
function attentionOnGarment(encoder: VitEncoder, count: number): { perHead: number[]; uniform: number } {
  return tf.tidy(() => {
    const batch = tf.div(tf.cast(tf.tensor4d(test.images.subarray(0, count * height * width), [count, height, width, 1]), 'float32'), 255);
    const garment = tf.cast(
      tf.greater(tf.avgPool(batch as tf.Tensor4D, encoder.patchSize, encoder.patchSize, 'valid'), GARMENT_LEVEL),
      'float32',
    );
    const mask = tf.expandDims(tf.squeeze(garment, [3]), 1); // [N, 1, rows, cols]
    const maps = encoder.classTokenAttention(batch as tf.Tensor4D); // [N, heads, rows, cols]
    const onGarment = tf.div(tf.sum(tf.mul(maps, mask), [2, 3]), tf.sum(maps, [2, 3])); // [N, heads]
    const perHead = Array.from(tf.mean(onGarment, 0).dataSync());
    const uniform = tf.mean(mask).dataSync()[0];
    return { perHead, uniform };
  });
}

const MEASURED_IMAGES = 1000;
for (const [name, encoder] of [
  ['trained', trained],
  ['random init', control],
] as const) {
  const { perHead, uniform } = attentionOnGarment(encoder, MEASURED_IMAGES);
  const heads = perHead.map((share) => `${(100 * share).toFixed(1)} %`).join(', ');
  console.log(
    `${name}: attention on garment patches per head ${heads} (uniform attention: ${(100 * uniform).toFixed(1)} %; ${MEASURED_IMAGES} test images)`,
  );
}

const originals = pixels.map((image) => greyImage(image, width, height));
const rows = [originals, ...attentionRows(trained), ...attentionRows(control)];
writeFileSync(values.png, imageGridPng(rows));
console.log(`wrote ${values.png}: the images, then one row per head of the trained ViT's class-token attention, then its random init's`);
tf.dispose(images);
control.model.dispose();
