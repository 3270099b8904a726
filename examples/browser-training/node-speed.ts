/**
 * The page's workload in Node, for the README's browser-vs-Node figure: SimCLR, the same CNN and seed, the
 * first 1024 images of the sample, batch 64, 60 steps, on wasm with one thread (the page's backend when it is
 * not cross-origin isolated). Prints steps per second after the first step, as the page does.
 * Run: node --conditions=@ssl/source --import tsx node-speed.ts [threads]
 */
import { createRegistry, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import contrastive from '@ssl/contrastive';

const threads = Number(process.argv[2] ?? 1);
const info = await initBackend({ backend: 'wasm', threads });
const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
const slice = subset(
  trainSet,
  Int32Array.from({ length: 1024 }, (_, i) => i),
);
let firstStepEnded = 0;
const result = await train({
  method: createRegistry().use(contrastive()).create('contrastive:simclr'),
  data: slice,
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], seed: 1234 },
  epochs: 4,
  maxSteps: 60,
  batchSize: 64,
  seed: 0,
  callbacks: [{ name: 'clock', onStepEnd: (record) => void (record.step === 0 && (firstStepEnded = performance.now())) }],
});
const stepsPerSecond = (result.steps - 1) / ((performance.now() - firstStepEnded) / 1000);
console.log(
  `node: ${info.name}${info.simd ? ' SIMD' : ''}, ${info.threads} thread(s): ${stepsPerSecond.toFixed(2)} steps/s, loss ${result.history[0].loss.toFixed(3)} → ${result.history.at(-1)!.loss.toFixed(3)}`,
);
result.dispose();
