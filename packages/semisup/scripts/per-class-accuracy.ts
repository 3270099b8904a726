/**
 * Test accuracy per class of the classifiers that `ssl semisup` runs saved (issue 32: where a method's gain over
 * supervised-only comes from, and where its pseudo-labels' errors leave it): each run's encoder + `classifier`
 * product on the 10 000 Fashion-MNIST test images, one row a class, one column a run.
 *
 *   node --conditions=@ssl/source --import tsx packages/semisup/scripts/per-class-accuracy.ts \
 *     /work/fulldata-runs/semisup-supervised-only-100l-6000s-seed0 /work/fulldata-runs/semisup-freematch-100l-6000s-seed0
 */
import { basename } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { initBackend, loadFashionMnist, loadRun } from '@ssl/core';
import { extractFeatures } from '@ssl/eval';

const runDirectories = process.argv.slice(2);
if (runDirectories.length === 0) throw new Error('usage: per-class-accuracy.ts <run folder> [<run folder> …]');
await initBackend({ log: () => {} });
const test = await loadFashionMnist({ split: 'test', source: 'full' });

/** Predicted class of every test image by a run's saved encoder and classifier (evaluation's inference pass over the logits). */
async function predictions(directory: string): Promise<Int32Array> {
  const run = await loadRun(directory);
  const classifier = run.network('classifier');
  const encoder = run.encoder!;
  const logits = await extractFeatures(
    { features: (images) => tf.tidy(() => classifier.predict(encoder.features(images as Tensor4D, { training: false })) as Tensor2D) },
    test,
  );
  run.dispose();
  return Int32Array.from({ length: test.size }, (_, row) => {
    const scores = logits.features.subarray(row * logits.dim, (row + 1) * logits.dim);
    return scores.indexOf(Math.max(...scores));
  });
}

const columns = [];
for (const directory of runDirectories) columns.push(await predictions(directory));
const percent = (right: number, of: number) => ((100 * right) / of).toFixed(1).padStart(6);
console.log(['class'.padEnd(12), ...runDirectories.map((d, i) => `(${i + 1})`.padStart(6))].join(' '));
for (let k = 0; k < 10; k++) {
  const rows = test.labels!.reduce((n, label) => n + (label === k ? 1 : 0), 0);
  const right = columns.map((p) => p.reduce((n, c, i) => n + (c === k && test.labels![i] === k ? 1 : 0), 0));
  console.log([test.classNames![k].padEnd(12), ...right.map((r) => percent(r, rows))].join(' '));
}
const overall = columns.map((p) => p.reduce((n, c, i) => n + (c === test.labels![i] ? 1 : 0), 0));
console.log(['all'.padEnd(12), ...overall.map((r) => percent(r, test.size))].join(' '));
runDirectories.forEach((d, i) => console.log(`(${i + 1}) ${basename(d)}`));
