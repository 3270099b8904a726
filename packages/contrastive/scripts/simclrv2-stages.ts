/**
 * Each stage of a finished SimCLRv2 run on the Fashion-MNIST test set (issue 31 acceptance 4: "the table shows each
 * stage's accuracy"): the fine-tuned teacher (the products `teacherEncoder` + `teacherClassifier`), the distilled
 * student (the run's encoder + `classifier`), and the supervised-only control that `ssl semisup` trained beside it
 * (from the run's eval.json, or a `--no-control` run of `stages: ['fine-tune']` given as a second folder).
 *
 *   node --conditions=@ssl/source --import tsx packages/contrastive/scripts/simclrv2-stages.ts \
 *     /work/fulldata-runs/simclrv2-10lpc-3ep-b32-seed0 [supervised-only run folder …]
 *
 * Prints one line a run: `<folder> teacher <top-1> student <top-1> supervised-only <top-1>` and, for a run that
 * trained the fine-tune stage only, `<folder> supervised-only <top-1>`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { initBackend, loadFashionMnist, loadRun } from '@ssl/core';
import type { Encoder, MethodClassifier, tfl } from '@ssl/core';
import { classifierAccuracy } from '@ssl/eval';

/** A saved network pair (encoder → features, classifier → logits) as evaluation scores a method's classifier. */
function savedClassifier(encoder: Encoder, classifier: tfl.LayersModel): MethodClassifier {
  return {
    description: 'saved classifier',
    control: 'supervised-only',
    probabilities: (images) => tf.tidy(() => tf.softmax(classifier.predict(encoder.features(images, { training: false })) as Tensor2D)),
  };
}

/** The supervised-only figure `ssl semisup` wrote beside the method's classifier, when it trained one. */
function controlOf(runDirectory: string): number | undefined {
  const evalFile = join(runDirectory, 'eval.json');
  if (!existsSync(evalFile)) return undefined;
  const evaluation = JSON.parse(readFileSync(evalFile, 'utf8')) as { classifier?: { control?: { accuracy: number } } };
  return evaluation.classifier?.control?.accuracy;
}

const percent = (value: number | undefined) => (value === undefined ? '—' : (100 * value).toFixed(1));

const runDirectories = process.argv.slice(2);
if (runDirectories.length === 0) throw new Error('usage: simclrv2-stages.ts <simclrv2 run folder> [more folders]');
await initBackend();
const test = await loadFashionMnist({ split: 'test', source: 'full' });
for (const runDirectory of runDirectories) {
  const run = await loadRun(runDirectory);
  if (run.method !== 'contrastive:simclrv2') throw new Error(`${runDirectory} is a ${run.method} run, not contrastive:simclrv2`);
  const student = await classifierAccuracy(savedClassifier(run.encoder!, run.network('classifier')), test);
  if (!run.products.teacherEncoder) {
    console.log(`${runDirectory} supervised-only ${percent(student)}`);
  } else {
    const teacher = await classifierAccuracy(savedClassifier(run.encoderProduct('teacherEncoder'), run.network('teacherClassifier')), test);
    console.log(
      `${runDirectory} teacher ${percent(teacher)} student ${percent(student)} supervised-only ${percent(controlOf(runDirectory))}`,
    );
  }
  run.dispose();
}
