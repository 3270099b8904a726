/**
 * The page's workload in Node, for the README's page-vs-Node speeds: the same method, encoder, seed and data
 * (src/workload.ts), the first 1024 images of the sample, on wasm with one thread (the page's backend when it is
 * not cross-origin isolated). Prints steps per second after the first step, as the page does.
 * Run: node --conditions=@ssl/source --import tsx node-speed.ts [method] [steps] [batch] [threads]
 */
import { initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import { encoderSpecFor, registry, trainDataFor } from './src/workload';

const [methodName = 'contrastive:simclr', steps = '60', batchSize = '64', threads = '1'] = process.argv.slice(2);
const info = await initBackend({ backend: 'wasm', threads: Number(threads) });
const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
const slice = subset(
  trainSet,
  Int32Array.from({ length: 1024 }, (_, i) => i),
);
let firstStepEnded = 0;
const result = await train({
  method: registry.create(methodName as never),
  data: trainDataFor(methodName, slice).data,
  encoder: encoderSpecFor(methodName),
  epochs: 100_000,
  maxSteps: Number(steps),
  batchSize: Number(batchSize),
  seed: 0,
  callbacks: [{ name: 'clock', onStepEnd: (record) => void (record.step === 0 && (firstStepEnded = performance.now())) }],
});
const stepsPerSecond = (result.steps - 1) / ((performance.now() - firstStepEnded) / 1000);
console.log(
  `node ${methodName}: ${info.name}${info.simd ? ' SIMD' : ''}, ${info.threads} thread(s): ${stepsPerSecond.toFixed(2)} steps/s, ` +
    `loss ${result.history[0].loss.toFixed(3)} → ${result.history.at(-1)!.loss.toFixed(3)}`,
);
result.dispose();
