import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, imageDataset, initBackend, loadFashionMnist, train, vitPreset } from '@ssl/core';
import type { ImageDataset, TrainResult, VitSpec } from '@ssl/core';
import { Random, describeMethodContract, expectClose, numericGradient, randomValues } from '@ssl/test-utils';
import masked, {
  BEIT_DEFAULTS,
  beitForward,
  beitTokens,
  blockwiseMask,
  blockwiseMasking,
  codebookLoss,
  codebookVectors,
  detokenize,
  maskedTokenLoss,
  nearestCodes,
  numBlockMaskedPatches,
} from '../index';
import type { BeitConfig, BeitRuntime } from '../index';

const SMALL_VIT: VitSpec = vitPreset('vit28', { embedDim: 32, depth: 1, numHeads: 2, mlpRatio: 2 });
const TINY: Partial<BeitConfig> = { codebookSize: 16 };

function imagesOf(dataset: ImageDataset, count: number, from = 0): tf.Tensor4D {
  return tf.tidy(
    () => tf.div(tf.tensor4d(dataset.images.subarray(from * 784, (from + count) * 784), [count, 28, 28, 1], 'float32'), 255) as tf.Tensor4D,
  );
}

/** BEiT's loss in plain loops (float64): mean over masked positions of −log softmax(logits)[token]. */
function referenceTokenLoss(logits: ArrayLike<number>, tokens: ArrayLike<number>, mask: ArrayLike<number>, vocabulary: number): number {
  let total = 0;
  let count = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] !== 1) continue;
    let max = -Infinity;
    for (let k = 0; k < vocabulary; k++) max = Math.max(max, logits[i * vocabulary + k]);
    let sum = 0;
    for (let k = 0; k < vocabulary; k++) sum += Math.exp(logits[i * vocabulary + k] - max);
    total -= logits[i * vocabulary + tokens[i]] - max - Math.log(sum);
    count++;
  }
  return total / Math.max(count, 1);
}

/** The codebook loss in plain loops: each patch against its nearest code, mean over patches and values. */
function referenceCodebookLoss(patches: ArrayLike<number>, codes: ArrayLike<number>, d: number): number {
  const numPatches = patches.length / d;
  const numCodes = codes.length / d;
  let total = 0;
  for (let i = 0; i < numPatches; i++) {
    let best = Infinity;
    for (let k = 0; k < numCodes; k++) {
      let distance = 0;
      for (let v = 0; v < d; v++) distance += (patches[i * d + v] - codes[k * d + v]) ** 2;
      best = Math.min(best, distance);
    }
    total += best;
  }
  return total / (numPatches * d);
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describe('blockwise masking', () => {
  it('masks exactly round(L · ratio) patches per image, in blocks, differently per image and per draw', () => {
    const rng = new Random(11);
    for (const [rows, columns, ratio] of [
      [7, 7, 0.4],
      [14, 14, 0.4],
      [4, 4, 0.75],
      [7, 7, 0.1],
    ] as const) {
      const count = numBlockMaskedPatches(rows * columns, ratio);
      for (let trial = 0; trial < 50; trial++) {
        const mask = blockwiseMask(rows, columns, count, rng, { minBlockPatches: 4 });
        expect(mask.reduce((s, v) => s + v, 0)).toBe(count);
      }
    }
    expect(numBlockMaskedPatches(196, 0.4)).toBe(78);
    const batch = blockwiseMasking(8, [7, 7], 0.4, 3, { minBlockPatches: 4 });
    const values = batch.dataSync() as Float32Array;
    for (let n = 0; n < 8; n++) expect(values.subarray(n * 49, (n + 1) * 49).reduce((s, v) => s + v, 0)).toBe(20);
    expect(Array.from(values.subarray(0, 49))).not.toEqual(Array.from(values.subarray(49, 98)));
    // Blocks, not scattered patches: most masked patches have a masked 4-neighbour (random masking: ~40%).
    let withNeighbour = 0;
    let masked = 0;
    for (let n = 0; n < 8; n++) {
      for (let i = 0; i < 49; i++) {
        if (values[n * 49 + i] !== 1) continue;
        masked++;
        const y = Math.floor(i / 7);
        const x = i % 7;
        const at = (yy: number, xx: number) => yy >= 0 && yy < 7 && xx >= 0 && xx < 7 && values[n * 49 + yy * 7 + xx] === 1;
        if (at(y - 1, x) || at(y + 1, x) || at(y, x - 1) || at(y, x + 1)) withNeighbour++;
      }
    }
    expect(withNeighbour / masked).toBeGreaterThan(0.9);
    batch.dispose();
  });
});

describe('BEiT losses and tokenizer blocks', () => {
  it('maskedTokenLoss equals the plain-loop cross-entropy on masked positions and its finite-difference gradient', () => {
    const rng = new Random(4);
    const logits = randomValues(rng, 2 * 3 * 5);
    const tokens = Int32Array.from([1, 4, 0, 2, 2, 3]);
    const mask = Float32Array.from([1, 0, 1, 1, 0, 0]);
    const value = (l: ArrayLike<number>) =>
      tf.tidy(
        () =>
          maskedTokenLoss(
            tf.tensor3d(Float32Array.from(l), [2, 3, 5]),
            tf.tensor2d(tokens, [2, 3], 'int32'),
            tf.tensor2d(mask, [2, 3]),
          ).dataSync()[0],
      );
    expectClose(value(logits), referenceTokenLoss(logits, tokens, mask, 5), { relative: 1e-5 });
    const [expected] = numericGradient(([l]) => referenceTokenLoss(l, tokens, mask, 5), [logits]);
    const grad = tf.tidy(() =>
      tf
        .grad((l: tf.Tensor) => maskedTokenLoss(l as tf.Tensor3D, tf.tensor2d(tokens, [2, 3], 'int32'), tf.tensor2d(mask, [2, 3])))(
          tf.tensor3d(logits, [2, 3, 5]),
        )
        .dataSync(),
    );
    expectClose(grad, expected, { absolute: 1e-4, relative: 1e-3 });
  });

  it('nearestCodes is the brute-force argmin and codebookLoss the plain-loop k-means objective, with its gradient on the codes', () => {
    const rng = new Random(8);
    const d = 3;
    const patches = randomValues(rng, 2 * 4 * d);
    const codes = randomValues(rng, 5 * d);
    const tokens = tf.tidy(() => nearestCodes(tf.tensor3d(patches, [2, 4, d]), tf.tensor2d(codes, [5, d])).dataSync());
    for (let i = 0; i < 8; i++) {
      let best = 0;
      let bestDistance = Infinity;
      for (let k = 0; k < 5; k++) {
        let distance = 0;
        for (let v = 0; v < d; v++) distance += (patches[i * d + v] - codes[k * d + v]) ** 2;
        if (distance < bestDistance) [best, bestDistance] = [k, distance];
      }
      expect(tokens[i]).toBe(best);
    }
    const value = tf.tidy(() => codebookLoss(tf.tensor3d(patches, [2, 4, d]), tf.tensor2d(codes, [5, d])).dataSync()[0]);
    expectClose(value, referenceCodebookLoss(patches, codes, d), { relative: 1e-5 });
    const [expected] = numericGradient(([c]) => referenceCodebookLoss(patches, c, d), [codes]);
    const grad = tf.tidy(() =>
      tf
        .grad((c: tf.Tensor) => codebookLoss(tf.tensor3d(patches, [2, 4, d]), c as tf.Tensor2D))(tf.tensor2d(codes, [5, d]))
        .dataSync(),
    );
    expectClose(grad, expected, { absolute: 1e-4, relative: 1e-3 });
  });
});

describeMethodContract({
  plugin: masked,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'masked:beit',
  config: TINY,
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: SMALL_VIT,
  batchSize: 16,
  // Two rounds of one epoch (4 steps each): the resume test's kill after step 6 lands in the BEiT round.
  steps: 8,
  epochs: 1,
  invalidConfigs: [
    ...[0, 1, Number.NaN].map((maskRatio) => ({ config: { maskRatio }, field: 'maskRatio' })),
    { config: { minBlockPatches: 0 }, field: 'minBlockPatches' },
    { config: { codebookSize: 1 }, field: 'codebookSize' },
    { config: { tokenizerLrScale: 0 }, field: 'tokenizerLrScale' },
    { config: { views: { cropScale: [0.9, 0.1] } }, field: 'views' },
  ],
  checkRun(result: TrainResult) {
    const runtime = result.runtime as BeitRuntime;
    expect(runtime.phase).toBe('masked-image-modeling');
    expect(Object.keys(runtime.trainable).sort()).toEqual(['encoder', 'head', 'maskToken']);
    expect(Object.keys(runtime.frozen ?? {})).toEqual(['codebook']);
    const tokens = tf.tidy(() => beitTokens(runtime, tf.zeros([2, 28, 28, 1])));
    expect(tokens.shape).toEqual([2, 49]);
    tokens.dispose();
  },
});

describe('masked:beit', () => {
  it('learns on the Fashion-MNIST sample: the tokenizer beats the per-position mean, masked-token prediction beats the most frequent token per position', async () => {
    const [trainSet, testSet] = await Promise.all([
      loadFashionMnist({ split: 'train', source: 'sample' }),
      loadFashionMnist({ split: 'test', source: 'sample' }),
    ]);
    const spec = vitPreset('vit28', { embedDim: 64, depth: 2, numHeads: 4, mlpRatio: 2 });
    const config: Partial<BeitConfig> = {};
    const method = createRegistry().use(masked()).create('masked:beit', config);
    // Without the crops, so that a short run measures the objective on un-augmented images.
    const plain = { ...method, definition: { ...method.definition, views: () => ({ unlabeled: 'none' }) } };
    // Two rounds of 2 epochs of 93 steps: the tokenizer, then BEiT.
    const result = await train({
      method: plain,
      data: trainSet,
      encoder: spec,
      batchSize: 32,
      epochs: 2,
      seed: 3,
      optimizer: { lr: 4e-3 },
    });
    const runtime = result.runtime as BeitRuntime;
    // What `ssl pretrain` reports (block masks of seed 99, one batch of 256 held-out images): masked-token accuracy and
    // cross-entropy beside the most frequent token and the token frequencies of each position over these images'
    // masked patches; the tokenizer's reconstruction beside each pixel's mean over these images.
    const before = tf.memory().numTensors;
    const [accuracy, crossEntropy, tokenizer] = await runtime.heldOutTask!(
      imageDataset({ images: testSet.images.subarray(0, 256 * 784), shape: [28, 28, 1] }),
      { seed: 99 },
    );
    expect(tf.memory().numTensors).toBe(before);
    // The read-out scores the network's predictions on the loop's first masks.
    const heldOut = imagesOf(testSet, 256);
    const mask = blockwiseMasking(256, [7, 7], BEIT_DEFAULTS.maskRatio, 99, { minBlockPatches: BEIT_DEFAULTS.minBlockPatches });
    const [trainedAccuracy, trainedEntropy, tokenizerError] = tf.tidy(() => {
      const truth = beitTokens(runtime, heldOut);
      const logits = beitForward(runtime, heldOut, mask);
      const hits = tf.mul(tf.cast(tf.equal(tf.argMax(logits, 2), truth), 'float32'), mask);
      const rebuilt = detokenize(truth, codebookVectors(runtime.codebook), 4, [28, 28, 1]);
      return [
        tf.div(tf.sum(hits), tf.sum(mask)).dataSync()[0],
        maskedTokenLoss(logits, truth, mask).dataSync()[0],
        tf.mean(tf.squaredDifference(rebuilt, heldOut)).dataSync()[0],
      ];
    });
    expect([accuracy.value, crossEntropy.value, tokenizer.value]).toEqual([trainedAccuracy, trainedEntropy, tokenizerError]);
    expect([accuracy.kind, crossEntropy.kind, tokenizer.kind]).toEqual(['accuracy', 'error', 'error']);

    // The cross-entropy's bar stays the training set's token frequencies at each position (add-one smoothed): the
    // read-out's reference, the entropy of these 256 images' own frequencies (~100 masked patches per position over 64
    // tokens), is biased low by the fit, 2.552 here, which no predictor reaches on so small a set.
    const vocabulary = BEIT_DEFAULTS.codebookSize;
    const counts = new Float64Array(49 * vocabulary);
    for (let from = 0; from < trainSet.size; from += 500) {
      const count = Math.min(500, trainSet.size - from);
      const tokens = tf.tidy(() => beitTokens(runtime, imagesOf(trainSet, count, from)));
      const values = tokens.dataSync();
      tokens.dispose();
      for (let i = 0; i < values.length; i++) counts[(i % 49) * vocabulary + values[i]]++;
    }
    const frequencies = Float32Array.from(counts, (c, i) => {
      const position = Math.floor(i / vocabulary);
      let total = 0;
      for (let k = 0; k < vocabulary; k++) total += counts[position * vocabulary + k];
      return Math.log((c + 1) / (total + vocabulary));
    });
    const frequencyEntropy = tf.tidy(() => {
      const frequencyLogits = tf.tile(tf.tensor3d(frequencies, [1, 49, vocabulary]), [256, 1, 1]) as tf.Tensor3D;
      return maskedTokenLoss(frequencyLogits, beitTokens(runtime, heldOut), mask).dataSync()[0];
    });
    result.dispose();
    tf.dispose([heldOut, mask]);
    const [modeAccuracy, meanError] = [accuracy.reference.value, tokenizer.reference.value];
    console.log(
      `beit learning test: tokenizer held-out MSE ${tokenizerError.toFixed(4)} vs per-pixel mean ${meanError.toFixed(4)}; ` +
        `masked-token accuracy ${(100 * trainedAccuracy).toFixed(1)}% vs most frequent token per position ${(100 * modeAccuracy).toFixed(1)}%; ` +
        `cross-entropy ${trainedEntropy.toFixed(3)} vs the training set's per-position frequencies ${frequencyEntropy.toFixed(3)} ` +
        `(these images' own: ${crossEntropy.reference.value.toFixed(3)})`,
    );
    // Measured (seed 3, wasm, 1 thread, 64 codes): tokenizer 0.0110 vs each pixel's mean 0.0881 over these images (0.0884
    // with the training images'); accuracy 37.2% vs 31.9% for these images' own most frequent tokens (31.7% with the
    // training set's); cross-entropy 2.702 vs 2.757 (training frequencies). (With 2 epochs at lr 2e-3: 32.2% vs 30.7%;
    // with 256 codes: 27.8% vs 27.1%, both against the training set's modes.)
    expect(tokenizerError).toBeLessThan(0.5 * meanError);
    expect(trainedAccuracy).toBeGreaterThan(modeAccuracy + 0.03);
    expect(trainedEntropy).toBeLessThan(frequencyEntropy);
  }, 600_000);
});
