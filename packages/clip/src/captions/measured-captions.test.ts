import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createRegistry, gatherBatch, imageDataset, initBackend, loadFashionMnist, subset, train } from '@ssl/core';
import clipPlugin, {
  ATTRIBUTE_WORDS,
  attributeThresholds,
  clipModelOf,
  fashionMnistMeasuredCaptions,
  fashionMnistMeasuredPairs,
  heldOutRetrieval,
  measureImages,
  uniqueCaptionIndices,
} from '../index';
import type { ClipModel } from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describe('measured captions', () => {
  it('measures brightness, size, width and detail over the item pixels (plain-loop check on drawn images)', () => {
    // Image 0: a 4 (wide) × 2 (high) block of 200 in a 6×6 frame; image 1: a 2 × 3 block alternating 100 / 250 by column.
    const pixels = new Uint8Array(2 * 36);
    for (let y = 1; y <= 2; y++) for (let x = 1; x <= 4; x++) pixels[y * 6 + x] = 200;
    for (let y = 2; y <= 4; y++) for (let x = 3; x <= 4; x++) pixels[36 + y * 6 + x] = x === 3 ? 100 : 250;
    const measures = measureImages(imageDataset({ images: pixels, shape: [6, 6, 1], labels: [0, 1] }));
    expect(measures.brightness[0]).toBeCloseTo(200 / 255, 6);
    expect(measures.size[0]).toBeCloseTo(8 / 36, 6);
    expect(measures.width[0]).toBeCloseTo(4 / 2, 6);
    expect(measures.detail[0]).toBe(0);
    expect(measures.brightness[1]).toBeCloseTo(175 / 255, 6);
    expect(measures.size[1]).toBeCloseTo(6 / 36, 6);
    expect(measures.width[1]).toBeCloseTo(2 / 3, 6);
    // 3 horizontal neighbour pairs differ by 150, 4 vertical pairs by 0: mean 150·3/7, relative to the brightness.
    expect(measures.detail[1]).toBeCloseTo((150 * 3) / 7 / 255 / (175 / 255), 5);
  });

  it("bins each measure by its class's quantiles, so every word is used about equally within a class", async () => {
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const thresholds = attributeThresholds(trainSet);
    const { captions, keys } = fashionMnistMeasuredCaptions(trainSet, thresholds, new Random(0));
    expect(captions).toHaveLength(trainSet.size);
    const shirts = keys.filter((key) => key.startsWith('6|')).map((key) => key.split('|'));
    for (const [column, words] of Object.values(ATTRIBUTE_WORDS).entries()) {
      for (const word of words) {
        const share = shirts.filter((parts) => parts[column + 1] === word).length / shirts.length;
        expect(share, word).toBeGreaterThan(1 / words.length - 0.05);
        expect(share, word).toBeLessThan(1 / words.length + 0.05);
      }
    }
    // Each caption names its class and its four words: "a pale huge coat, wide and plain".
    const [label, ...words] = keys[0].split('|');
    for (const word of words) expect(captions[0]).toContain(word);
    expect(Number(label)).toBe(trainSet.labels![0]);
    // 782 distinct contents of the 1440 possible in 3000 images, where class-only captions have 10.
    expect(new Set(keys).size).toBeGreaterThan(700);
  });

  it('keeps one image per distinct caption content', () => {
    expect(uniqueCaptionIndices(['a', 'b', 'a', 'c', 'b'])).toEqual([0, 1, 3]);
  });
});

describe('heldOutRetrieval', () => {
  /** A stand-in CLIP model: images and texts embed to given rows. */
  function fixedModel(imageRows: number[][], textRows: number[][]): ClipModel {
    return {
      embedImages: () => tf.tensor2d(imageRows),
      embedTexts: () => tf.tensor2d(textRows),
    } as unknown as ClipModel;
  }

  it('states chance (k / N) and the class-only level (min(1, k / n_c) averaged), and refuses duplicate captions', () => {
    const rows = [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
      [0, 0, 0, 1],
    ];
    const images = tf.zeros([4, 2, 2, 1]) as tf.Tensor4D;
    const result = heldOutRetrieval(fixedModel(rows, rows), images, ['a', 'b', 'c', 'd'], [0, 0, 0, 1], [1, 2]);
    expect(result.recall.imageToText).toEqual({ 1: 1, 2: 1 });
    expect(result.chance).toEqual({ 1: 1 / 4, 2: 2 / 4 });
    // Class 0 holds 3 pairs (1/3 and 2/3 each), class 1 one pair (1 and 1).
    expect(result.classOnly[1]).toBeCloseTo((3 * (1 / 3) + 1) / 4, 6);
    expect(result.classOnly[2]).toBeCloseTo((3 * (2 / 3) + 1) / 4, 6);
    expect(() => heldOutRetrieval(fixedModel(rows, rows), images, ['a', 'b', 'a', 'd'], [0, 0, 0, 1])).toThrow(/equal/);
    images.dispose();
  });
});

describe('clip:clip on measured captions', () => {
  it('retrieves held-out images from unique captions (and back) far above the class-only level', async () => {
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const testSet = await loadFashionMnist({ split: 'test', source: 'sample' });
    const thresholds = attributeThresholds(trainSet);
    const described = fashionMnistMeasuredCaptions(testSet, thresholds, new Random(99));
    const unique = uniqueCaptionIndices(described.keys);
    const heldOut = subset(testSet, unique);
    const batch = gatherBatch(
      heldOut,
      Array.from({ length: heldOut.size }, (_, i) => i),
    );
    const result = await train({
      method: createRegistry().use(clipPlugin()).create('clip:clip'),
      data: fashionMnistMeasuredPairs(trainSet, 0, thresholds),
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64] },
      epochs: 3,
      batchSize: 100,
      seed: 0,
    });
    const retrieval = heldOutRetrieval(
      clipModelOf(result.runtime),
      batch.images,
      unique.map((i) => described.captions[i]),
      heldOut.labels!,
    );
    const percent = (value: number) => `${(100 * value).toFixed(1)}%`;
    console.log(
      `clip on measured captions, ${result.steps} steps; ${retrieval.pairs} unique held-out pairs: image→text R@1 ${percent(retrieval.recall.imageToText[1])} R@5 ${percent(retrieval.recall.imageToText[5])}, text→image R@1 ${percent(retrieval.recall.textToImage[1])} R@5 ${percent(retrieval.recall.textToImage[5])}; chance R@1 ${percent(retrieval.chance[1])}, class-only R@1 ${percent(retrieval.classOnly[1])} R@5 ${percent(retrieval.classOnly[5])}`,
    );
    // Measured (seed 0, 90 steps): image→text R@1 6.4% R@5 25.4%, text→image R@1 8.6% R@5 27.0% on 488 pairs, against
    // class-only 2.0% / 10.2% (chance 0.2% / 1.0%). After 60 steps it is still at the class-only level (1.6–2.3% / 10–11.5%).
    for (const direction of [retrieval.recall.imageToText, retrieval.recall.textToImage]) {
      expect(direction[1]).toBeGreaterThan(2 * retrieval.classOnly[1]);
      expect(direction[5]).toBeGreaterThan(1.8 * retrieval.classOnly[5]);
    }
    tf.dispose([batch.images, batch.labels as tf.Tensor]);
    result.dispose();
  }, 300_000);
});
