import * as tf from '@tensorflow/tfjs-core';
import type { Tensor3D } from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Random,
  createRegistry,
  initBackend,
  loadRun,
  loadFashionMnist,
  loadSpokenClasses,
  melFilterbank,
  resolveLogMelOptions,
  subset,
  train,
} from '@ssl/core';
import { describeMethodContract } from '@ssl/test-utils';
import clipPlugin, {
  binaryMaskLoss,
  evaluateSeparation,
  magnitudeSpectrogram,
  pairMixtures,
  ratioMaskLoss,
  separationMixtures,
  separationModelFromRun,
  separationModelOf,
  spectrogramSnr,
} from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

const TINY = { audioChannels: [4, 8], maskChannels: 4, bands: 16 };

describeMethodContract({
  plugin: clipPlugin,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'clip:mix-and-separate',
  config: TINY,
  data: { imageAudio: { source: 'fashion-mnist-sample', size: 64 } },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { maskChannels: 0 }, field: 'maskChannels' },
    { config: { audioChannels: [] }, field: 'audioChannels' },
    { config: { frameLength: 200 }, field: 'frameLength' },
    { config: { mask: 'soft' }, field: 'mask' },
    { config: { bands: 30 }, field: 'bands' },
  ],
  moreConfigs: [{ ...TINY, mask: 'ratio' }],
});

/** Plain-loop band magnitudes: Hann-windowed DFT per frame, |X|, averaged by unit-sum mel triangles. */
function referenceSpectrogram(signal: number[], sampleRate: number, frameLength: number, frameStep: number, bands: number): number[][] {
  const triangles = melFilterbank(resolveLogMelOptions({ sampleRate, frameLength, fftLength: frameLength, melBins: bands }));
  const bins = frameLength / 2 + 1;
  const frames: number[][] = [];
  for (let start = 0; start + frameLength <= signal.length; start += frameStep) {
    const magnitudes = Array.from({ length: bins }, (_, k) => {
      let re = 0;
      let im = 0;
      for (let n = 0; n < frameLength; n++) {
        const x = signal[start + n] * (0.5 - 0.5 * Math.cos((2 * Math.PI * n) / frameLength));
        re += x * Math.cos((2 * Math.PI * k * n) / frameLength);
        im -= x * Math.sin((2 * Math.PI * k * n) / frameLength);
      }
      return Math.hypot(re, im);
    });
    frames.push(
      Array.from({ length: bands }, (_, b) => {
        let sum = 0;
        let weight = 0;
        for (let k = 0; k < bins; k++) {
          sum += magnitudes[k] * triangles[k * bands + b];
          weight += triangles[k * bands + b];
        }
        return sum / weight;
      }),
    );
  }
  return frames;
}

describe('separation blocks', () => {
  const rng = new Random(7);
  const rows = (n: number, m: number, draw: () => number) => Array.from({ length: n }, () => Array.from({ length: m }, draw));

  it('magnitudeSpectrogram equals a plain-loop DFT reference', () => {
    const signals = rows(2, 70, () => rng.uniform(-1, 1));
    const ours = magnitudeSpectrogram(tf.tensor2d(signals), { sampleRate: 8000, frameLength: 16, frameStep: 6, bands: 4 });
    expect(ours.shape).toEqual([2, 10, 4]);
    const values = ours.arraySync();
    signals.forEach((signal, i) => {
      referenceSpectrogram(signal, 8000, 16, 6, 4).forEach((frame, t) =>
        frame.forEach((value, b) => expect(values[i][t][b]).toBeCloseTo(value, 3)),
      );
    });
  });

  it('binaryMaskLoss and ratioMaskLoss equal plain-loop references; binaryMaskLoss has the finite-difference gradient', () => {
    const shape: [number, number, number] = [2, 3, 4];
    const logits = rows(6, 4, () => rng.normal());
    const source = rows(6, 4, () => rng.uniform(0, 2));
    const other = rows(6, 4, () => rng.uniform(0, 2));
    const mixture = source.map((row, i) => row.map((v, j) => v + other[i][j]));
    const tensor = (values: number[][]) => tf.tensor3d(values.flat(), shape);
    const weight = (m: number) => Math.min(10, Math.max(1e-3, Math.log1p(m)));
    let binary = 0;
    let ratio = 0;
    let weights = 0;
    logits.forEach((row, i) =>
      row.forEach((z, j) => {
        const w = weight(mixture[i][j]);
        const target = source[i][j] >= 0.5 * mixture[i][j] ? 1 : 0;
        const p = 1 / (1 + Math.exp(-z));
        binary += w * -(target * Math.log(p) + (1 - target) * Math.log(1 - p));
        ratio += w * Math.abs(z - Math.min(5, source[i][j] / mixture[i][j]));
        weights += w;
      }),
    );
    expect(binaryMaskLoss(tensor(logits), tensor(source), tensor(mixture)).dataSync()[0]).toBeCloseTo(binary / weights, 5);
    expect(ratioMaskLoss(tensor(logits), tensor(source), tensor(mixture)).dataSync()[0]).toBeCloseTo(ratio / weights, 5);
    const gradient = tf
      .grad((z: tf.Tensor) => binaryMaskLoss(z as Tensor3D, tensor(source), tensor(mixture)))(tensor(logits))
      .dataSync();
    const h = 1e-2;
    for (const index of [0, 7, 23]) {
      const shifted = (delta: number) => {
        const values = logits.flat();
        values[index] += delta;
        return binaryMaskLoss(tf.tensor3d(values, shape), tensor(source), tensor(mixture)).dataSync()[0];
      };
      expect(gradient[index]).toBeCloseTo((shifted(h) - shifted(-h)) / (2 * h), 3);
    }
    expect(() => binaryMaskLoss(tensor(logits), tf.zeros([2, 3, 3]) as Tensor3D, tensor(mixture))).toThrow(/same shape/);
  });

  it('spectrogramSnr is 10·log10(Σ S² / Σ (Ŝ − S)²) per clip', () => {
    const target = tf.tensor3d([1, 2, 3, 4, 0, 1, 0, 1], [2, 2, 2]);
    const estimate = tf.tensor3d([1, 2, 3, 3, 0, 0, 0, 0], [2, 2, 2]);
    const snr = spectrogramSnr(estimate, target).dataSync();
    expect(snr[0]).toBeCloseTo(10 * Math.log10(30 / 1), 4);
    expect(snr[1]).toBeCloseTo(10 * Math.log10(2 / 2), 4);
  });

  it('pairMixtures mixes each image with a clip of its class and a partner of another class, each row once', () => {
    // Images of classes [0, 0, 1, 2]; clips of classes [1, 0, 2, 0].
    const imageClasses = [0, 0, 1, 2];
    const clipClasses = [1, 0, 2, 0];
    const matrix = imageClasses.flatMap((c) => clipClasses.map((k) => (k === c ? 1 : 0)));
    const { first, second } = pairMixtures(matrix, 4);
    expect(first.images.length).toBe(2);
    const used = [...first.images, ...second.images];
    expect(new Set(used).size).toBe(used.length);
    for (let m = 0; m < first.images.length; m++) {
      expect(clipClasses[first.clips[m]]).toBe(imageClasses[first.images[m]]);
      expect(clipClasses[second.clips[m]]).toBe(imageClasses[second.images[m]]);
      expect(imageClasses[first.images[m]]).not.toBe(imageClasses[second.images[m]]);
    }
  });
});

/**
 * 155 steps of 64. Separated minus other-image SNR, measured 2026-12-07 (seed 0 unless said, wasm, 1 thread): 3 epochs
 * +0.27 dB, 5 epochs +0.77 (seed 1: +1.14), 7 epochs +0.84, 10 epochs +1.32 (the test's budget before, 146 s of CI).
 */
const EPOCHS = 5;
/**
 * dB of spectrogram SNR by which the mask from a source's own image must beat the mask from the other source's image:
 * about half the +0.77 measured, as the 10-epoch run's 0.6 was of its +1.32.
 */
const IMAGE_STEERING_BAR = 0.4;

describe('clip:mix-and-separate', () => {
  it('separationModelFromRun rebuilds the trained separator from its run directory (same masks)', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'ssl-separation-run-'));
    const images = await loadFashionMnist({ split: 'train', source: 'sample' });
    const result = await train({
      method: createRegistry().use(clipPlugin()).create('clip:mix-and-separate', TINY),
      data: {
        images: subset(
          images,
          Array.from({ length: 64 }, (_, i) => i),
        ),
        audio: loadSpokenClasses({ split: 'train' }),
      },
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
      batchSize: 16,
      epochs: 1,
      seed: 0,
      outDir,
    });
    const run = await loadRun(outDir);
    const mixtures = separationMixtures(await loadFashionMnist({ split: 'test', source: 'sample' }), loadSpokenClasses({ split: 'test' }), {
      count: 4,
      seed: 1,
    });
    const mixture = tf.add(mixtures.firstSounds, mixtures.secondSounds) as tf.Tensor2D;
    const trained = separationModelOf(result.runtime).masks(mixtures.firstImages, mixture);
    const loaded = separationModelFromRun(run).masks(mixtures.firstImages, mixture);
    expect(tf.max(tf.abs(tf.sub(trained, loaded))).dataSync()[0]).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(tf.sub(trained, 0.5))).dataSync()[0]).toBeGreaterThan(0); // a mask, not a constant
    tf.dispose([trained, loaded, mixture, mixtures.firstImages, mixtures.firstSounds, mixtures.secondImages, mixtures.secondSounds]);
    result.dispose();
    run.dispose();
    rmSync(outDir, { recursive: true, force: true });
    expect(() => separationModelFromRun({ ...run, method: 'clip:clip' })).toThrow(/not a clip:mix-and-separate run/);
  }, 120_000);

  it('learns to pick a spoken class name out of a two-voice mixture by its image (held out: test images, an unheard voice)', async () => {
    const images = await loadFashionMnist({ split: 'train', source: 'sample' });
    const started = performance.now();
    const result = await train({
      method: createRegistry()
        .use(clipPlugin())
        .create('clip:mix-and-separate', { audioChannels: [8, 16, 32] }),
      data: {
        images: subset(
          images,
          Array.from({ length: 2000 }, (_, i) => i),
        ),
        audio: loadSpokenClasses({ split: 'train' }),
      },
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16, 32] },
      batchSize: 64,
      epochs: EPOCHS,
      seed: 0,
      optimizer: { lr: 3e-3 },
    });
    const seconds = (performance.now() - started) / 1000;
    const testImages = await loadFashionMnist({ split: 'test', source: 'sample' });
    const testVoice = loadSpokenClasses({ split: 'test' });
    const mixtures = separationMixtures(testImages, testVoice, { count: 300, seed: 1 });
    const figures = evaluateSeparation(separationModelOf(result.runtime), mixtures, { mask: 'binary' });
    tf.dispose([mixtures.firstImages, mixtures.firstSounds, mixtures.secondImages, mixtures.secondSounds]);
    // What `ssl pretrain` reports as the method's own task: the same mixtures, each SNR beside its control.
    const reported = await result.runtime.heldOutTask!({ images: testImages, audio: testVoice }, { seed: 1 });
    expect(reported.map((figure) => [figure.value, figure.reference.value])).toEqual([
      [figures.separatedSnr, figures.mixtureSnr],
      [figures.softSeparatedSnr, figures.halfMaskSnr],
      [figures.separatedSnr, figures.swappedImageSnr],
    ]);
    result.dispose();
    console.log(
      `held-out spectrogram SNR (dB, ${figures.mixtures} mixtures of the test voice): mixture ${figures.mixtureSnr.toFixed(2)}, ` +
        `½ mask ${figures.halfMaskSnr.toFixed(2)}, separated ${figures.separatedSnr.toFixed(2)} (soft mask ${figures.softSeparatedSnr.toFixed(2)}), ` +
        `other source's image ${figures.swappedImageSnr.toFixed(2)}, ideal binary mask ${figures.idealMaskSnr.toFixed(2)}; ` +
        `${result.steps} steps, ${seconds.toFixed(0)} s`,
    );
    expect(figures.separatedSnr).toBeGreaterThan(figures.swappedImageSnr + IMAGE_STEERING_BAR);
  }, 1_800_000);
});
