/**
 * The held-out figures of clip:audio-visual in the README, at a budget beyond the CI test's: trains on the first
 * `--images` Fashion-MNIST sample train images with the bundled speech's train voices, then reports correspondence
 * accuracy and audio→image class retrieval recall@1/@5 on the first 500 sample test images with the test voice.
 *
 *   node --conditions=@ssl/source --import tsx packages/clip/scripts/audio-visual-held-out.ts [--epochs 20] [--images 2000] [--seed 0]
 */
import { parseArgs } from 'node:util';
import { initBackend, loadFashionMnist, loadSpokenClasses, subset } from '@ssl/core';
import { audioVisualModelOf, evaluateAudioVisual } from '../src/index';
import { trainOnSpokenSample } from './spoken-sample-run';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '20' },
    images: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '0' },
  },
});
await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
const { result, seconds } = await trainOnSpokenSample({
  method: 'clip:audio-visual',
  config: { fusionDim: 64 },
  images: Number(values.images),
  epochs: Number(values.epochs),
  seed: Number(values.seed),
  lr: 3e-3,
});
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
