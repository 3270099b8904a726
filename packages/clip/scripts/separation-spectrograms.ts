/**
 * clip:mix-and-separate's README figures and picture: trains on the first `--images` Fashion-MNIST sample train
 * images with the bundled speech's train voices, evaluates on `--mixtures` held-out two-source mixtures (sample
 * test images, the test voice) and draws `--examples` of them: one column per mixture, rows = mixture, the two
 * estimates (mask ⊙ mixture), the two true sources; log band magnitudes, time left to right, low bands at the bottom.
 *
 *   node --conditions=@ssl/source --import tsx packages/clip/scripts/separation-spectrograms.ts \
 *     --png packages/clip/docs/mix-and-separate.png [--epochs 10] [--images 2000] [--mixtures 300] [--config '{"mask":"binary"}']
 *
 * With `--run <dir>` it trains nothing: it draws and evaluates a finished run (`ssl pretrain clip:mix-and-separate
 * --out <dir>`) on mixtures of the full test split (`--data full`, the default then) or of the sample's.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor3D } from '@tensorflow/tfjs-core';
import { initBackend, loadFashionMnist, loadRun, loadSpokenClasses } from '@ssl/core';
import { evaluateSeparation, separationMixtures, separationModelFromRun, separationModelOf } from '../src/index';
import type { MixAndSeparateConfig } from '../src/index';
import { imageGridPng, type GridImage } from '@ssl/eval';
import { trainOnSpokenSample } from './spoken-sample-run';

const { values } = parseArgs({
  options: {
    png: { type: 'string' },
    epochs: { type: 'string', default: '10' },
    images: { type: 'string', default: '2000' },
    mixtures: { type: 'string', default: '300' },
    examples: { type: 'string', default: '4' },
    config: { type: 'string', default: '{}' },
    lr: { type: 'string', default: '3e-3' },
    seed: { type: 'string', default: '0' },
    run: { type: 'string' },
    data: { type: 'string' },
  },
});
const config = JSON.parse(values.config) as Partial<MixAndSeparateConfig>;

await initBackend({ backend: 'wasm', threads: values.run ? 2 : 1, log: () => {} });
const { model, steps, seconds, mask, dispose } = values.run ? await finishedRun(values.run) : await trainedHere();
const testImages = await loadFashionMnist({
  split: 'test',
  source: values.data === 'full' || (values.run && !values.data) ? 'full' : 'sample',
});
const mixtures = separationMixtures(testImages, loadSpokenClasses({ split: 'test' }), { count: Number(values.mixtures), seed: 1 });
const figures = evaluateSeparation(model, mixtures, { mask });
console.log(JSON.stringify({ steps, seconds, config, ...figures }));

if (values.png) {
  const count = Number(values.examples);
  const rows = tf.tidy(() => {
    const take = <T extends tf.Tensor>(t: T) => tf.slice(t, 0, count) as T;
    const [first, second] = [take(mixtures.firstSounds), take(mixtures.secondSounds)];
    const mixture = tf.add(first, second) as tf.Tensor2D;
    const spectrogram = model.spectrograms(mixture);
    const soft = (images: tf.Tensor4D) => model.masks(images, mixture);
    const finalMask = (m: Tensor3D) => (mask === 'binary' ? tf.cast(tf.greater(m, 0.5), 'float32') : m);
    return [
      spectrogram,
      tf.mul(finalMask(soft(take(mixtures.firstImages))), spectrogram),
      tf.mul(finalMask(soft(take(mixtures.secondImages))), spectrogram),
      model.spectrograms(first),
      model.spectrograms(second),
    ].map((t) => (t as Tensor3D).arraySync());
  });
  writeFileSync(values.png, spectrogramGrid(rows));
  console.log(
    `wrote ${values.png}: rows mixture, estimate 1, estimate 2, source 1, source 2; classes ${mixtures.firstLabels.slice(0, count)} + ${mixtures.secondLabels.slice(0, count)}`,
  );
}
tf.dispose([mixtures.firstImages, mixtures.firstSounds, mixtures.secondImages, mixtures.secondSounds]);
dispose();

async function trainedHere() {
  const { result, seconds } = await trainOnSpokenSample({
    method: 'clip:mix-and-separate',
    config,
    images: Number(values.images),
    epochs: Number(values.epochs),
    seed: Number(values.seed),
    lr: Number(values.lr),
  });
  const model = separationModelOf(result.runtime);
  return { model, steps: result.steps, seconds: Math.round(seconds), mask: config.mask ?? 'binary', dispose: () => result.dispose() };
}

async function finishedRun(dir: string) {
  const run = await loadRun(dir);
  const { mask } = run.config.config as unknown as MixAndSeparateConfig;
  return { model: separationModelFromRun(run), steps: run.step, seconds: undefined, mask, dispose: () => run.dispose() };
}

/** A grid of spectrograms [row][column][frame][band] as a PNG, one colour scale (log magnitude, 60 dB range) for all. */
function spectrogramGrid(rows: number[][][][]): Buffer {
  const peak = Math.max(...rows.flat(3));
  const floor = peak * 1e-3;
  const cellOf = (cell: number[][]): GridImage => {
    const [frames, bands] = [cell.length, cell[0].length];
    const rgb = new Float32Array(frames * bands * 3);
    cell.forEach((frame, t) =>
      frame.forEach((value, band) => {
        // 0 at 60 dB below the peak, 1 at the peak; a dark-to-yellow ramp; low bands at the bottom.
        const level = Math.max(0, Math.min(1, Math.log10(Math.max(value, floor) / floor) / 3));
        rgb.set([Math.min(1, 1.5 * level), level ** 1.5, 0.4 * (1 - level)], ((bands - 1 - band) * frames + t) * 3);
      }),
    );
    return { width: frames, height: bands, rgb };
  };
  return imageGridPng(rows.map((row) => row.map(cellOf)));
}
