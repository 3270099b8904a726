import * as tf from '@tensorflow/tfjs-core';
import type { Tensor4D } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, encoderInputShape, imageDataset, initBackend, loadEmoji, train } from '@ssl/core';
import type { tfl } from '@ssl/core';
import { describeMethodContract } from '@ssl/test-utils';
import pretext, {
  abBinsOfImages,
  colorizationStatistics,
  colorize,
  evaluateColorization,
  lightnessDataset,
  lightnessInput,
  rgbToLabPixel,
} from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

// The contract suite trains on the grey Fashion-MNIST sample: every target is the grey bin (a = b = 0), a
// degenerate but valid colorization task that exercises the steps, the state and resuming.
describeMethodContract({
  plugin: pretext,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'pretext:colorization',
  config: { headHiddenDim: 8 },
  moreConfigs: [
    {
      headHiddenDim: 0,
      rebalance: false,
      bins: [
        [0, 0],
        [10, 0],
        [0, 10],
        [-10, 0],
        [0, -10],
        [10, 10],
      ],
    },
  ],
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], batchNorm: true },
  batchSize: 8,
  steps: 4,
  invalidConfigs: [
    { config: { bins: 'srgb' }, field: 'bins' },
    { config: { bins: [[0, 0]] }, field: 'bins' },
    { config: { bins: [[0, 0], [10]] }, field: 'bins' },
    { config: { gridSize: 0 }, field: 'gridSize' },
    { config: { neighbours: 0 }, field: 'neighbours' },
    {
      config: {
        bins: [
          [0, 0],
          [10, 0],
        ],
        neighbours: 5,
      },
      field: 'neighbours',
    },
    { config: { sigma: 0 }, field: 'sigma' },
    { config: { lambda: 1.5 }, field: 'lambda' },
    { config: { priorSigma: -1 }, field: 'priorSigma' },
    { config: { temperature: 0 }, field: 'temperature' },
    { config: { rebalance: 'yes' }, field: 'rebalance' },
    { config: { headHiddenDim: 1.5 }, field: 'headHiddenDim' },
  ],
  checkRun(result) {
    // The prior's counts hold one nearest bin per map position seen: 4 steps × 8 images × 14 × 14 (two CNN stages).
    const counts = Array.from(result.runtime.state?.abBinCounts.dataSync() ?? []);
    expect(counts.reduce((x, y) => x + y, 0)).toBe(4 * 8 * 14 * 14);
    const bins = result.runtime.state?.abBins.arraySync() as number[][];
    // Grey images: every position's nearest bin is (0, 0).
    expect(counts[bins.findIndex(([a, b]) => a === 0 && b === 0)]).toBe(4 * 8 * 14 * 14);
    expect((result.runtime.products?.().bins as { json: number[][] }).json).toEqual(bins);
  },
});

describe('lightnessDataset', () => {
  it('stores round(2.55·L) in one channel, from RGB or grey bytes', () => {
    const rgb = imageDataset({
      images: Uint8Array.from([255, 255, 255, 0, 0, 0, 255, 0, 0, 40, 160, 90]),
      shape: [2, 2, 3],
      labels: [4],
      name: 'four',
    });
    const lightness = lightnessDataset(rgb);
    expect(lightness.shape).toEqual([2, 2, 1]);
    expect(Array.from(lightness.labels!)).toEqual([4]);
    const expected = [
      [255, 255, 255],
      [0, 0, 0],
      [255, 0, 0],
      [40, 160, 90],
    ].map(([r, g, b]) => Math.round(2.55 * rgbToLabPixel(r / 255, g / 255, b / 255)[0]));
    expect(Array.from(lightness.images)).toEqual(expected);
    expect(expected.slice(0, 3)).toEqual([255, 0, 136]);
    const grey = lightnessDataset(imageDataset({ images: Uint8Array.from([128]), shape: [1, 1, 1] }));
    expect(grey.images[0]).toBe(Math.round(2.55 * rgbToLabPixel(128 / 255, 128 / 255, 128 / 255)[0]));
  });
});

describe('the encoder colorization declares', () => {
  it('takes one channel whatever the images have; a 3-channel encoder is refused before training, naming the option', async () => {
    const method = createRegistry().use(pretext()).create('pretext:colorization', {});
    expect(encoderInputShape(method.definition, [32, 32, 3])).toEqual([32, 32, 1]);
    const data = await loadEmoji({ split: 'test', source: 'sample' });
    const run = train({ method, data, encoder: { kind: 'cnn', inputShape: [32, 32, 3], channels: [4], seed: 1 }, maxSteps: 1 });
    await expect(run).rejects.toThrow(
      "pretext:colorization's encoder sees the lightness L* of the images: give it 1 input channel(s) (encoder.inputShape [32, 32, 3]).",
    );
  });
});

describe('lightnessInput', () => {
  it('gives the encoder L/100 only, in as many channels as it takes; grey input is its own lightness', () => {
    const rgb = tf.tensor4d([1, 0, 0, 0.2, 0.6, 0.9], [1, 1, 2, 3]);
    const { input, lab } = lightnessInput(rgb, 1);
    expect(input.shape).toEqual([1, 1, 2, 1]);
    const values = input.dataSync();
    expect(values[0]).toBeCloseTo(rgbToLabPixel(1, 0, 0)[0] / 100, 4);
    expect(values[1]).toBeCloseTo(rgbToLabPixel(0.2, 0.6, 0.9)[0] / 100, 4);
    expect(lab.shape).toEqual([1, 1, 2, 3]);
    const tiled = lightnessInput(rgb, 3).input;
    expect(tiled.shape).toEqual([1, 1, 2, 3]);
    expect(Array.from(tiled.dataSync())).toEqual([values[0], values[0], values[0], values[1], values[1], values[1]]);
    const grey = lightnessInput(tf.tensor4d([0.5], [1, 1, 1, 1]), 1);
    expect(grey.input.dataSync()[0]).toBeCloseTo(rgbToLabPixel(0.5, 0.5, 0.5)[0] / 100, 4);
    const [, a, b] = grey.lab.dataSync().slice(0, 3);
    expect(Math.abs(a) + Math.abs(b)).toBeLessThan(0.02);
  });
});

// CI learning test on the colour sample (1372 training, 355 held-out emoji, 32×32 RGB), the paper's defaults
// (bins from the training data, soft-encoding 5/σ 5, rebalancing λ 0.5/σ 5) and Adam 3e-3. Measured with this
// setup (seed 1, encoder seed 3, 1 wasm thread, 3 epochs of 21 steps, 23-31 s of training by machine load):
// held-out rebalanced loss 3.903 against 4.415 for the best constant predictor of the training set. The bar,
// 0.25 under it, is half the measured gap.
const HELD_OUT_MARGIN = 0.25;

describe('colorization learns', () => {
  it('predicts held-out colours better than the training-set prior', async () => {
    const trainSet = await loadEmoji({ split: 'train', source: 'sample' });
    const testSet = await loadEmoji({ split: 'test', source: 'sample' });
    // The paper's in-gamut bins: those the training data occupies (grid 10).
    const bins = abBinsOfImages(trainSet.images).bins;
    const method = createRegistry().use(pretext()).create('pretext:colorization', { bins, headHiddenDim: 32 });
    const started = Date.now();
    const result = await train({
      method,
      data: trainSet,
      encoder: { kind: 'cnn', inputShape: [32, 32, 1], channels: [8, 16, 32], batchNorm: true, seed: 3 },
      epochs: 3,
      batchSize: 64,
      seed: 1,
      // The collapse probe feeds the data's RGB images to the encoder, which takes L only (see the README).
      guard: false,
    });
    const seconds = (Date.now() - started) / 1000;
    const head = result.runtime.trainable.head as tfl.LayersModel;
    // Three CNN stages: an 8×8 map of the 32×32 images, the paper's quarter resolution.
    const statistics = await colorizationStatistics(trainSet, bins, [8, 8], method.config);
    const scores = await evaluateColorization(result.encoder, head, testSet, { ...method.config, bins }, statistics);
    console.log(
      `colorization on the emoji sample: ${bins.length} bins, ${seconds.toFixed(1)} s; held-out cross-entropy ${scores.crossEntropy.toFixed(3)} ` +
        `vs prior ${scores.priorCrossEntropy.toFixed(3)}; rebalanced ${scores.rebalancedLoss.toFixed(3)} vs prior ${scores.priorRebalancedLoss.toFixed(3)}`,
    );
    // The method's loss (rebalanced) against the best colour-blind predictor under that loss. The plain
    // cross-entropy is logged but not tested: rebalancing trades it for rare colours by design (README).
    expect(scores.rebalancedLoss).toBeLessThan(scores.priorRebalancedLoss - HELD_OUT_MARGIN);
    const coloured = colorize(
      result.encoder,
      head,
      tf.div(tf.tensor4d(testSet.images.slice(0, 4 * 3072), [4, 32, 32, 3]), 255) as Tensor4D,
      bins,
    );
    expect(coloured.shape).toEqual([4, 32, 32, 3]);
    coloured.dispose();
    result.dispose();
  }, 240_000);
});
