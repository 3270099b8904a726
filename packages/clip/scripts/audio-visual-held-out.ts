/**
 * The held-out figures of clip:audio-visual in the README, at a budget beyond the CI test's: trains on the first
 * `--images` Fashion-MNIST sample train images with the bundled speech's train voices, then reports correspondence
 * accuracy and audio→image class retrieval recall@1/@5 on the first 500 sample test images with the test voice.
 *
 *   node --conditions=@ssl/source --import tsx packages/clip/scripts/audio-visual-held-out.ts [--epochs 20] [--images 2000] [--seed 0]
 */
import { parseArgs } from 'node:util';
import { initBackend, loadFashionMnist, loadSpokenClasses, subset, train, createRegistry } from '@ssl/core';
import clipPlugin, { audioVisualModelOf, evaluateAudioVisual } from '../src/index';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '20' },
    images: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '0' },
  },
});
await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
const images = await loadFashionMnist({ split: 'train', source: 'sample' });
const started = performance.now();
const result = await train({
  method: createRegistry().use(clipPlugin()).create('clip:audio-visual', { fusionDim: 64 }),
  data: {
    images: subset(
      images,
      Array.from({ length: Number(values.images) }, (_, i) => i),
    ),
    audio: loadSpokenClasses({ split: 'train' }),
  },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16, 32] },
  batchSize: 64,
  epochs: Number(values.epochs),
  seed: Number(values.seed),
  optimizer: { lr: 3e-3 },
});
const seconds = (performance.now() - started) / 1000;
const testImages = subset(
  await loadFashionMnist({ split: 'test', source: 'sample' }),
  Array.from({ length: 500 }, (_, i) => i),
);
const evaluation = evaluateAudioVisual(audioVisualModelOf(result.runtime), testImages, loadSpokenClasses({ split: 'test' }), { seed: 1 });
console.log(
  JSON.stringify({
    steps: result.steps,
    seconds: Math.round(seconds),
    correspondenceAccuracy: evaluation.correspondenceAccuracy,
    audioToImageRecall: evaluation.audioToImageRecall,
  }),
);
result.dispose();
