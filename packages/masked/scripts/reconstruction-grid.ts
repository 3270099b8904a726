/**
 * Reconstruction pictures for the README, drawn from a finished run directory (`ssl pretrain ... --out <dir>`
 * or `train({ outDir })`) of masked:dae, masked:context-encoder, masked:simmim or masked:beit: held-out test
 * images in rows, one column per image, removed pixels tinted blue.
 *
 *   node --conditions=@ssl/source --import tsx packages/masked/scripts/reconstruction-grid.ts \
 *     --run runs/context-encoder --png packages/masked/docs/context-encoder-reconstruction.png [--data full|sample] [--count 8] [--seed 0]
 *
 * Rows — dae: original, corrupted input, reconstruction. context-encoder: original, input (hole tinted), the
 * fill pasted into the region. simmim: original, masked input, predictions pasted into the masked patches.
 * beit: original, the image rebuilt from its tokens, masked input, the predicted tokens in the masked patches.
 * (MAE's picture comes from examples/mae-fashion-mnist.)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { VitEncoder, initBackend, loadFashionMnist, loadRun } from '@ssl/core';
import type { Encoder, LoadedRun } from '@ssl/core';
import { imageGridPng, type GridImage } from '@ssl/eval';
import {
  BEIT_DEFAULTS,
  CONTEXT_ENCODER_DEFAULTS,
  DAE_DEFAULTS,
  SIMMIM_DEFAULTS,
  beitForward,
  beitTokens,
  blockwiseMasking,
  codebookVectors,
  contextEncoderFill,
  corruptTensor,
  daeReconstruct,
  detokenize,
  randomMasking,
  simmimForward,
  unpatchify,
} from '../src/index';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    png: { type: 'string' },
    data: { type: 'string', default: 'auto' },
    count: { type: 'string', default: '8' },
    seed: { type: 'string', default: '0' },
  },
});
if (!values.run || !values.png) throw new Error('reconstruction-grid: pass --run <run directory> and --png <output file>.');

/** One row of the picture: images [N, H, W, 1] in [0, 1], and where to tint (1 = removed from the input). */
interface Row {
  readonly images: Tensor4D;
  readonly tint?: Tensor4D;
}

await initBackend({ log: () => {} });
const run = await loadRun(values.run);
const count = Number(values.count);
const seed = Number(values.seed);
const test = await loadFashionMnist({ split: 'test', source: values.data as 'auto' | 'sample' | 'full' });
const images = tf.tidy(() => tf.div(tf.tensor4d(test.images.subarray(0, count * 784), [count, 28, 28, 1], 'float32'), 255) as Tensor4D);
if (!run.encoder) throw new Error(`${values.run} has no saved encoder.`);
const encoder: Encoder = run.encoder;
const methodConfig = (run.config.config ?? {}) as Record<string, unknown>;

/** A patch mask [N, L] as a pixel mask [N, H, W, 1] for patches of side p. */
function pixelMask(mask: Tensor2D, patchSize: number): Tensor4D {
  return tf.tidy(() => unpatchify(tf.tile(tf.expandDims(mask, 2), [1, 1, patchSize * patchSize]) as tf.Tensor3D, patchSize, [28, 28, 1]));
}

function rowsFor(loaded: LoadedRun): Row[] {
  switch (loaded.method) {
    case 'masked:dae': {
      const config = { ...DAE_DEFAULTS, ...methodConfig };
      const corrupted = corruptTensor(images, { maskingRate: config.maskingRate, gaussianStd: config.gaussianStd }, seed);
      const reconstruction = daeReconstruct({ encoder, decoder: loaded.network('decoder') }, corrupted);
      return [{ images }, { images: tf.clipByValue(corrupted, 0, 1) as Tensor4D }, { images: reconstruction }];
    }
    case 'masked:context-encoder': {
      const config = { ...CONTEXT_ENCODER_DEFAULTS, ...methodConfig };
      const fill = contextEncoderFill({ encoder, decoder: loaded.network('decoder'), config }, images, seed);
      return [{ images }, { images: fill.input, tint: fill.masks.hole }, { images: fill.pasted }];
    }
    case 'masked:simmim': {
      const config = { ...SIMMIM_DEFAULTS, ...methodConfig };
      const patchSize = encoder instanceof VitEncoder ? encoder.patchSize : config.maskPatchSize;
      const numPatches = (28 / patchSize) ** 2;
      const masking = randomMasking(count, numPatches, config.maskRatio, seed);
      const parts = { encoder, maskToken: loaded.network('maskToken'), head: loaded.network('head'), patchSize };
      const removed = pixelMask(masking.mask, patchSize);
      const prediction = tf.tidy(() =>
        tf.clipByValue(unpatchify(simmimForward(parts, images, masking.mask), patchSize, [28, 28, 1]), 0, 1),
      );
      const pasted = tf.tidy(() => tf.add(tf.mul(images, tf.sub(1, removed)), tf.mul(prediction, removed)) as Tensor4D);
      return [{ images }, { images, tint: removed }, { images: pasted }];
    }
    case 'masked:beit': {
      if (!(encoder instanceof VitEncoder)) throw new Error('masked:beit runs have a ViT encoder.');
      const config = { ...BEIT_DEFAULTS, ...methodConfig };
      const parts = {
        encoder,
        codebook: loaded.network('tokenizer'),
        maskToken: loaded.network('maskToken'),
        head: loaded.network('head'),
        config,
      };
      const codes = codebookVectors(parts.codebook);
      const tokens = beitTokens(parts, images);
      const mask = blockwiseMasking(count, [encoder.gridSize[0], encoder.gridSize[1]], config.maskRatio, seed, {
        minBlockPatches: config.minBlockPatches,
      });
      const predicted = tf.tidy(() => {
        const guess = tf.cast(tf.argMax(beitForward(parts, images, mask), 2), 'int32');
        // Visible patches keep their true token; masked ones show the ViT's prediction.
        return tf.cast(tf.add(tf.mul(guess, mask), tf.mul(tokens, tf.sub(1, mask))), 'int32') as Tensor2D;
      });
      const removed = pixelMask(mask, encoder.patchSize);
      return [
        { images },
        { images: detokenize(tokens, codes, encoder.patchSize, [28, 28, 1]) },
        { images, tint: removed },
        { images: tf.clipByValue(detokenize(predicted, codes, encoder.patchSize, [28, 28, 1]), 0, 1) as Tensor4D, tint: undefined },
      ];
    }
    default:
      throw new Error(
        `reconstruction-grid draws masked:dae, masked:context-encoder, masked:simmim and masked:beit runs, not ${loaded.method}.`,
      );
  }
}

/** Rows of 28×28 cells (scaled 3×, 4-pixel white gaps: imageGridPng), removed pixels tinted blue. */
function writePng(path: string, rows: Row[]): void {
  const cellOf = (row: Row, n: number): GridImage => {
    const pixels = row.images.dataSync();
    const tint = row.tint?.dataSync();
    const rgb = new Float32Array(784 * 3);
    for (let p = 0; p < 784; p++) {
      const source = n * 784 + p;
      const grey = Math.min(1, Math.max(0, pixels[source]));
      rgb.set(tint !== undefined && tint[source] === 1 ? [40 / 255, 60 / 255, 120 / 255] : [grey, grey, grey], 3 * p);
    }
    return { width: 28, height: 28, rgb };
  };
  writeFileSync(path, imageGridPng(rows.map((row) => Array.from({ length: count }, (_, n) => cellOf(row, n)))));
}

writePng(values.png, rowsFor(run));
console.log(`wrote ${values.png} (${run.method}, ${count} test images)`);
run.dispose();
