/**
 * How right the pseudo-labels of a round method's run are (issue 32): reads the pool a run's last checkpoint saved
 * (self-training's `labeled`, data distillation's `data-distillation/annotations`, co-training's
 * `co-training/view-1`, …) and scores its pseudo-labels against the true labels of the unlabeled training images,
 * overall and per predicted class (how many, how many right), beside how many images of each class the pool holds.
 *
 *   node --conditions=@ssl/source --import tsx packages/semisup/scripts/pseudo-label-accuracy.ts \
 *     /work/fulldata-runs/semisup-data-distillation-100l-2ep-per-round-seed0 data-distillation/annotations
 *
 * The run must be a Fashion-MNIST `ssl semisup` run (`--labels-per-class`, `--seed` read from its checkpoint): its
 * sample ids are the labeled images (0 … L−1) followed by the unlabeled ones, each part in dataset order.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { labeledSplit, loadFashionMnist, makeDataset } from '@ssl/core';

const [runDirectory, poolName] = process.argv.slice(2);
if (!runDirectory || !poolName) throw new Error('usage: pseudo-label-accuracy.ts <run folder> <pool name>');
const checkpoints = readdirSync(join(runDirectory, 'checkpoints')).sort();
const manifest = JSON.parse(readFileSync(join(runDirectory, 'checkpoints', checkpoints.at(-1)!, 'manifest.json'), 'utf8'));
const { seed, invocation } = manifest.meta.run;
const pool = manifest.meta.pools[poolName];
if (!pool?.labels) throw new Error(`the checkpoint has no labeled pool '${poolName}': ${Object.keys(manifest.meta.pools).join(', ')}`);

const train = await loadFashionMnist({ split: 'train', source: 'full' });
const labels = train.labels!;
// The same split the run drew, on stand-in images that each hold their own dataset index (4 bytes), so the
// order of both parts can be read back.
const indexImages = new Uint8Array(train.size * 4);
const view = new DataView(indexImages.buffer);
for (let i = 0; i < train.size; i++) view.setUint32(i * 4, i);
const indexDataset = makeDataset({ images: indexImages, shape: [2, 2, 1], labels, numClasses: 10, name: 'indices', size: train.size });
const split = labeledSplit(indexDataset, { perClass: invocation.labelsPerClass, seed });
const indicesOf = (part: { images: Uint8Array; size: number }) => {
  const partView = new DataView(part.images.buffer, part.images.byteOffset);
  return Array.from({ length: part.size }, (_, k) => partView.getUint32(k * 4));
};
const datasetIndex = [...indicesOf(split.labeled), ...indicesOf(split.unlabeled)];

const perClass = Array.from({ length: 10 }, () => ({ predicted: 0, right: 0, actual: 0 }));
let right = 0;
let count = 0;
for (let k = 0; k < pool.ids.length; k++) {
  // Given labels (ids below the labeled count) are not pseudo-labels.
  if (pool.ids[k] < split.labeled.size) continue;
  const truth = labels[datasetIndex[pool.ids[k]]];
  const predicted = pool.labels[k];
  count++;
  perClass[predicted].predicted++;
  perClass[truth].actual++;
  if (truth === predicted) {
    right++;
    perClass[predicted].right++;
  }
}
console.log(`${runDirectory} ${poolName}: ${count} pseudo-labels, ${((100 * right) / Math.max(1, count)).toFixed(1)}% right`);
console.log('class | labeled as it | of them right, % | images of the class in the pool');
perClass.forEach((c, label) =>
  console.log(`${label} | ${c.predicted} | ${((100 * c.right) / Math.max(1, c.predicted)).toFixed(1)} | ${c.actual}`),
);
