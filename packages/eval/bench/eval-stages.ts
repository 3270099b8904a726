/**
 * Times each stage of the evaluation protocol (`EVALUATION_PROTOCOL`, one representation) on all of
 * Fashion-MNIST: features of 60 000 train + 10 000 test images, kNN (k = 200), the linear probe on every
 * label, and the linear probe on 10 labels per class over 5 subsets. Prints one line per stage and the
 * figures, so a speed-up can be checked not to change them.
 *
 *   node --conditions=@ssl/source --import tsx packages/eval/bench/eval-stages.ts [cnn|vit] [extractBatchSize]
 */
import * as os from 'node:os';

import { createEncoder, encoderPreset, initBackend, loadFashionMnist } from '@ssl/core';

import { EVALUATION_PROTOCOL, extractFeatures, knnClassify, labelFractionEval, linearProbe } from '../src/index';

const kind = process.argv[2] ?? 'cnn';
const batchSize = process.argv[3] === undefined ? undefined : Number(process.argv[3]);

await initBackend();
const train = await loadFashionMnist({ split: 'train', source: 'full' });
const test = await loadFashionMnist({ split: 'test', source: 'full' });
// The `ssl` command's `--encoder cnn` and `--encoder vit28` (the vit spec lacked its size before the bench was type-checked).
const encoder = createEncoder({ ...encoderPreset(kind === 'vit' ? 'vit28' : 'cnn', [28, 28, 1]), seed: 0 });
// Wall time, and the process's CPU time (all threads): on a shared machine the second moves far less with the load.
const times: [string, number, number][] = [];
const timed = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  const result = await run();
  const cpu = process.cpuUsage(cpuStarted);
  times.push([name, (performance.now() - started) / 1000, (cpu.user + cpu.system) / 1e6]);
  return result;
};
const load = os.loadavg()[0].toFixed(2);
const extract = batchSize === undefined ? {} : { batchSize };
const trainFeatures = await timed('features', () => extractFeatures(encoder, train, extract));
const testFeatures = await timed('features', () => extractFeatures(encoder, test, extract));
const knn = await timed('knn', () => knnClassify(trainFeatures, testFeatures, { ...EVALUATION_PROTOCOL.knn }));
const linear = await timed('linear', () =>
  linearProbe(trainFeatures, testFeatures, { weightDecay: EVALUATION_PROTOCOL.linear.weightDecay }),
);
const [few] = await timed('fewLabels', () =>
  labelFractionEval(trainFeatures, testFeatures, {
    perClass: [EVALUATION_PROTOCOL.fewLabels.perClass],
    seeds: [0, 1, 2, 3, 4],
    method: 'linear',
    linear: { weightDecay: EVALUATION_PROTOCOL.fewLabels.weightDecay },
  }),
);
const total = (name?: string, column: 1 | 2 = 1) =>
  times.filter(([stage]) => name === undefined || stage === name).reduce((sum, entry) => sum + entry[column], 0);
console.log(
  `eval-stages ${kind} dim=${trainFeatures.dim} load_start=${load} load_end=${os.loadavg()[0].toFixed(2)} ` +
    ['features', 'knn', 'linear', 'fewLabels'].map((stage) => `${stage}_s=${total(stage).toFixed(1)}`).join(' ') +
    ` total_s=${total().toFixed(1)} | cpu: ` +
    ['features', 'knn', 'linear', 'fewLabels'].map((stage) => `${stage}_s=${total(stage, 2).toFixed(1)}`).join(' ') +
    ` total_s=${total(undefined, 2).toFixed(1)}`,
);
console.log(
  `figures knn=${knn.top1.toFixed(4)} linear=${linear.top1.toFixed(4)} (iterations ${linear.iterations}, loss ${linear.trainLoss.toFixed(5)}) ` +
    `fewLabels=${few.top1.mean.toFixed(4)}±${few.top1.std.toFixed(4)}`,
);
