/**
 * Colorization on the emoji colour set, measured as the README reports it: pre-train `pretext:colorization` on
 * the emoji training images (an encoder that takes L only), then score the encoder with @ssl/eval's protocol
 * (kNN, linear probe, 10 labels per class; each against the same encoder at random init) on the emoji set as
 * the encoder sees it (lightnessDataset: L only) and on Fashion-MNIST (grey, 28×28: the CNN takes any size).
 *
 *   node --conditions=@ssl/source --import tsx packages/pretext/scripts/colorization-emoji.ts \
 *     [--source sample|full] [--epochs 3] [--batch 64] [--channels 8,16,32] [--head 32] [--fashion sample|auto] [--png out.png]
 *
 * --png writes held-out emoji in three rows: the greyscale input (L only), the annealed-mean prediction, the truth.
 */
import { writeFileSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { tfl } from '@ssl/core';
import { createRegistry, initBackend, loadEmoji, loadFashionMnist, train } from '@ssl/core';
import { compareWithControls, formatControlledEvaluation, randomInitControl } from '@ssl/eval';
import pretext, { abBinsOfImages, colorize, labToRgb, lightnessDataset, lightnessInput, mixChannels } from '../src/index';

const { values } = parseArgs({
  options: {
    source: { type: 'string', default: 'sample' },
    epochs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '64' },
    channels: { type: 'string', default: '8,16,32' },
    head: { type: 'string', default: '32' },
    fashion: { type: 'string', default: 'sample' },
    seed: { type: 'string', default: '0' },
    png: { type: 'string' },
  },
});

await initBackend({ backend: 'wasm', log: () => {} });
const source = values.source === 'full' ? 'full' : 'sample';
const trainSet = await loadEmoji({ split: 'train', source });
const testSet = await loadEmoji({ split: 'test', source });
const bins = abBinsOfImages(trainSet.images).bins;
const method = createRegistry()
  .use(pretext())
  .create('pretext:colorization', { bins, headHiddenDim: Number(values.head) });
const seed = Number(values.seed);
const started = performance.now();
const result = await train({
  method,
  data: trainSet,
  encoder: { kind: 'cnn', inputShape: [32, 32, 1], channels: values.channels!.split(',').map(Number), batchNorm: true, seed: 1234 },
  epochs: Number(values.epochs),
  batchSize: Number(values.batch),
  seed,
  // The collapse probe would feed the RGB training images to an encoder that takes L only.
  guard: false,
});
const seconds = (performance.now() - started) / 1000;
const steps = result.history.length;
console.log(
  `${trainSet.name}: ${trainSet.size} images, ${bins.length} bins, ${steps} steps in ${seconds.toFixed(1)} s (${((1000 * seconds) / steps).toFixed(0)} ms/step)`,
);
const last = result.history.slice(-5);
console.log(`last loss ${(last.reduce((sum, record) => sum + record.loss, 0) / last.length).toFixed(3)}`);
if (values.png) writePreview(values.png);
const control = randomInitControl(result.encoder);
for (const [name, evalTrain, evalTest] of [
  ['emoji (L only)', lightnessDataset(trainSet), lightnessDataset(testSet)],
  [
    'Fashion-MNIST',
    await loadFashionMnist({ split: 'train', source: values.fashion === 'auto' ? 'auto' : 'sample' }),
    await loadFashionMnist({ split: 'test', source: values.fashion === 'auto' ? 'auto' : 'sample' }),
  ],
] as const) {
  const evaluation = await compareWithControls({ encoder: result.encoder, randomInit: control, train: evalTrain, test: evalTest, seed });
  console.log(`\n${name} (${evalTrain.size} / ${evalTest.size}):\n${formatControlledEvaluation(evaluation, { style: 'markdown' })}`);
}
control.model.dispose();
result.dispose();

/** Held-out images in three rows (grey input, prediction, truth), each pixel drawn as a SCALE×SCALE block. */
function writePreview(path: string): void {
  const count = 12;
  const scale = 3;
  const side = 32;
  const rows = tf.tidy(() => {
    const images = tf.div(tf.tensor4d(testSet.images.slice(0, count * side * side * 3), [count, side, side, 3]), 255) as Tensor4D;
    // The L channel alone, shown as the grey colour of that lightness.
    const grey = labToRgb(
      mixChannels(lightnessInput(images, 1).lab, [
        [1, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ]),
    );
    const predicted = colorize(result.encoder, result.runtime.trainable.head as tfl.LayersModel, images, bins, method.config.temperature);
    return [grey, predicted, images].map((row) => row.dataSync());
  });
  const width = count * side * scale;
  const height = 3 * side * scale;
  const raw = Buffer.alloc(height * (1 + 3 * width));
  for (let y = 0; y < height; y++) {
    const row = rows[Math.floor(y / (side * scale))];
    const sy = Math.floor(y / scale) % side;
    for (let x = 0; x < width; x++) {
      const image = Math.floor(x / (side * scale));
      const sx = Math.floor(x / scale) % side;
      for (let c = 0; c < 3; c++)
        raw[y * (1 + 3 * width) + 1 + 3 * x + c] = Math.round(255 * row[((image * side + sy) * side + sx) * 3 + c]);
    }
  }
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
  writeFileSync(path, png);
  console.log(`wrote ${path}`);
}
