import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, SslError, createEncoder, createRegistry, initBackend, loadFashionMnist, train } from '@ssl/core';
import { extractFeatures, knnClassify } from '@ssl/eval';
import { describeMethodContract } from '@ssl/test-utils';
import pretext, { evaluateRotationAccuracy, padCrop, rotation, rotationBatch, rotationHead, rotationLoss } from '../index';

// Single-threaded wasm: bit-exact reruns for the method contract's determinism and resume tests, and kind to a shared CI machine.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

const registry = createRegistry().use(pretext());

/** Naive reference: one counter-clockwise quarter turn of one H×W×C image (numpy.rot90): out[i][j] = in[j][W-1-i]. */
function naiveQuarterTurn(image: number[][][]): number[][][] {
  const size = image.length;
  return Array.from({ length: size }, (_, i) => Array.from({ length: size }, (_, j) => [...image[j][size - 1 - i]]));
}

function randomImages(n: number, size: number, channels: number, seed: number): tf.Tensor4D {
  const rng = new Random(seed);
  return tf.tensor4d(
    Float32Array.from({ length: n * size * size * channels }, () => rng.next()),
    [n, size, size, channels],
  );
}

// CI-sized learning test: 1 epoch (46 steps of 64 images → 256 rotated) on the 3000-image sample, CNN [16, 32, 64].
// Measured with this exact setup (seed 1, encoder seed 11, 1 wasm thread): held-out rotation accuracy 0.82
// (chance 0.25); kNN@20 0.713 trained vs 0.719 at random init. Honest reading: in this budget RotNet learns
// its task well but does NOT beat a random BN-CNN on kNN (lr 0.01, a 2-layer head + augmentation, and a head on
// the feature map were tried too: 0.694, 0.712, 0.318). So the test asserts what holds with margin: the task
// is learned far above chance, and the encoder stays a useful representation (far above the 0.10 chance, at
// most 3 points below its random init) instead of collapsing into rotation detectors.
const LEARNING_EPOCHS = 1;
const ROTATION_ACCURACY_FLOOR = 0.6;
const KNN_FLOOR = 0.6;
const KNN_MAX_DROP_FROM_RANDOM_INIT = 0.03;

describeMethodContract({
  plugin: pretext,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'pretext:rotation',
  config: { headInput: 'feature-map', headHiddenDim: 16 },
  // The other head inputs reach other code (a pooled vector, a conv block on the map).
  moreConfigs: [
    { headInput: 'pooled', headHiddenDim: 16, augmentation: 'resized-crop-flip' },
    { headInput: 'conv-block', headHiddenDim: 16 },
  ],
  data: { source: 'fashion-mnist-sample', size: 64 },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], batchNorm: true },
  batchSize: 8,
  steps: 4,
  invalidConfigs: [
    { config: { headHiddenLayers: 3 }, field: 'headHiddenLayers' },
    { config: { headHiddenDim: 0 }, field: 'headHiddenDim' },
    { config: { headHiddenDim: 2.5 }, field: 'headHiddenDim' },
    { config: { augment: 'yes' }, field: 'augment' },
    { config: { headInput: 'map' }, field: 'headInput' },
    { config: { cropScale: [0.8, 0.5] }, field: 'cropScale' },
    { config: { cropScale: [0, 1] }, field: 'cropScale' },
    { config: { flipP: 1.5 }, field: 'flipP' },
    { config: { augmentation: 'crop' }, field: 'augmentation' },
    { config: { padding: -1 }, field: 'padding' },
  ],
  checkRun(result) {
    for (const record of result.history) {
      expect(record.metrics.rotationAccuracy).toBeGreaterThanOrEqual(0);
      expect(record.metrics.rotationAccuracy).toBeLessThanOrEqual(1);
    }
    // 4-way cross-entropy starts near log 4.
    expect(result.history[0].loss).toBeGreaterThan(0.9);
    expect(result.history[0].loss).toBeLessThan(2.5);
  },
});

describe('rotationBatch', () => {
  it('matches a naive loop rotation, block k holding every image turned k × 90° counter-clockwise with label k', () => {
    const n = 3;
    const images = randomImages(n, 5, 2, 1);
    const { images: rotated, labels } = rotationBatch(images);
    expect(rotated.shape).toEqual([4 * n, 5, 5, 2]);
    expect(Array.from(labels.dataSync())).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    expect(labels.dtype).toBe('int32');
    const input = images.arraySync();
    const output = rotated.arraySync();
    for (let k = 0; k < 4; k++) {
      for (let i = 0; i < n; i++) {
        let expected = input[i];
        for (let t = 0; t < k; t++) expected = naiveQuarterTurn(expected);
        expect(output[k * n + i]).toEqual(expected);
      }
    }
    tf.dispose([images, rotated, labels]);
  });

  it('four quarter turns give the identity, and the quarter turn of block k is block k+1', () => {
    const images = randomImages(2, 6, 1, 2);
    let turned = images;
    const blocks: tf.Tensor[] = [];
    for (let t = 0; t < 4; t++) {
      const out = rotationBatch(turned);
      const quarter = tf.slice(out.images, [2, 0, 0, 0], [2, 6, 6, 1]) as tf.Tensor4D;
      blocks.push(quarter);
      if (t === 0) {
        // Turning the 90° block once more gives the batch's own 180° block; turning the 270° block gives the input.
        const again = rotationBatch(quarter);
        expect(tf.slice(again.images, [2, 0, 0, 0], [2, 6, 6, 1]).arraySync()).toEqual(
          tf.slice(out.images, [4, 0, 0, 0], [2, 6, 6, 1]).arraySync(),
        );
        tf.dispose([again.images, again.labels]);
        const fromLast = rotationBatch(tf.slice(out.images, [6, 0, 0, 0], [2, 6, 6, 1]) as tf.Tensor4D);
        expect(tf.slice(fromLast.images, [2, 0, 0, 0], [2, 6, 6, 1]).arraySync()).toEqual(images.arraySync());
      }
      tf.dispose([out.images, out.labels]);
      turned = quarter;
    }
    expect(turned.arraySync()).toEqual(images.arraySync());
    // And a quarter turn is not the identity (the test above would pass for a no-op otherwise).
    expect(blocks[0].arraySync()).not.toEqual(images.arraySync());
  });

  it('rejects non-square images and wrong ranks with shape-mismatch, and frees its intermediates', () => {
    const wide = tf.zeros([1, 4, 6, 1]) as tf.Tensor4D;
    expect(() => rotationBatch(wide)).toThrow(/square/);
    expect(() => rotationBatch(tf.zeros([4, 4, 1]) as unknown as tf.Tensor4D)).toThrow(SslError);
    const images = randomImages(2, 4, 1, 3);
    const before = tf.memory().numTensors;
    const out = rotationBatch(images);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([wide, images, out.images, out.labels]);
  });
});

describe('rotationLoss', () => {
  it('equals a naive loop cross-entropy and accuracy, and its gradient is (softmax − onehot) / M', () => {
    const rng = new Random(4);
    const m = 6;
    const logitValues = Array.from({ length: m }, () => Array.from({ length: 4 }, () => rng.normal(0, 2)));
    const labelValues = [0, 1, 2, 3, 2, 1];
    let expectedLoss = 0;
    let expectedCorrect = 0;
    const expectedGrad: number[][] = [];
    for (let i = 0; i < m; i++) {
      const row = logitValues[i];
      const max = Math.max(...row);
      const sumExp = row.reduce((s, v) => s + Math.exp(v - max), 0);
      expectedLoss += -(row[labelValues[i]] - max - Math.log(sumExp)) / m;
      if (row.indexOf(max) === labelValues[i]) expectedCorrect++;
      expectedGrad.push(row.map((v, c) => (Math.exp(v - max) / sumExp - (c === labelValues[i] ? 1 : 0)) / m));
    }
    const logits = tf.tensor2d(logitValues);
    const labels = tf.tensor1d(labelValues, 'int32');
    const { loss, accuracy } = rotationLoss(logits, labels);
    expect(loss.dataSync()[0]).toBeCloseTo(expectedLoss, 5);
    expect(accuracy.dataSync()[0]).toBeCloseTo(expectedCorrect / m, 6);
    expect(expectedCorrect).toBeGreaterThan(0);
    expect(expectedCorrect).toBeLessThan(m);
    const grad = tf.grad((x: tf.Tensor) => rotationLoss(x as tf.Tensor2D, labels).loss)(logits);
    const gradValues = grad.arraySync() as number[][];
    for (let i = 0; i < m; i++) for (let c = 0; c < 4; c++) expect(gradValues[i][c]).toBeCloseTo(expectedGrad[i][c], 5);
    tf.dispose([logits, labels, loss, accuracy, grad]);
  });

  it('rejects logits that are not [M, 4] or labels of another length', () => {
    const labels = tf.tensor1d([0, 1], 'int32');
    expect(() => rotationLoss(tf.zeros([2, 3]) as tf.Tensor2D, labels)).toThrow(/shape|\[M, 4\]/);
    expect(() => rotationLoss(tf.zeros([3, 4]) as tf.Tensor2D, labels)).toThrow(SslError);
    labels.dispose();
  });
});

describe('rotationHead', () => {
  it('is linear with 0 hidden layers and an MLP otherwise, always with 4 outputs', () => {
    const linear = rotationHead({ inputDim: 16, hiddenLayers: 0, hiddenDim: 32, seed: 1 });
    const mlp = rotationHead({ inputDim: 16, hiddenLayers: 2, hiddenDim: 32, seed: 1 });
    expect(linear.outputs[0].shape).toEqual([null, 4]);
    expect(mlp.outputs[0].shape).toEqual([null, 4]);
    expect(linear.layers.filter((l) => l.getClassName() === 'Dense')).toHaveLength(1);
    expect(mlp.layers.filter((l) => l.getClassName() === 'Dense')).toHaveLength(3);
    linear.dispose();
    mlp.dispose();
  });
});

describe('pretext plugin and rotation config', () => {
  it('has one hidden head layer by default and accepts a valid non-default config', () => {
    expect(rotation.defaults.headHiddenLayers).toBe(1);
    expect(() => registry.create('pretext:rotation', { headHiddenLayers: 0, augment: true, cropScale: [0.5, 1], flipP: 0 })).not.toThrow();
  });

  it("defaults to the official code's pad-crop + flip and Nesterov momentum; the old behaviour stays one option away", () => {
    expect(rotation.views(rotation.defaults)).toEqual({ unlabeled: { name: 'padCropFlip', overrides: { padding: 4, flipP: 0.5 } } });
    expect(rotation.training?.optimizer).toEqual({ kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
    expect(rotation.views({ ...rotation.defaults, augment: false })).toEqual({ unlabeled: 'none' });
    expect(rotation.views({ ...rotation.defaults, augmentation: 'resized-crop-flip' })).toEqual({
      unlabeled: { name: 'cropFlip', overrides: { cropScale: [0.6, 1], flipP: 0.5 } },
    });
  });

  it('padCrop is a zero-padded random crop of the original size: each output is the input shifted by at most `padding`', () => {
    const rng = new Random(9);
    const images = randomImages(40, 6, 1, 5);
    const cropped = padCrop(images, new Random(9), 2);
    const input = images.arraySync();
    const output = cropped.arraySync();
    const shifts = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const dy = rng.int(5) - 2; // the replayed draw: top, then left, per image
      const dx = rng.int(5) - 2;
      shifts.add(`${dy},${dx}`);
      for (let y = 0; y < 6; y++)
        for (let x = 0; x < 6; x++) {
          const [sy, sx] = [y + dy, x + dx];
          const expected = sy >= 0 && sy < 6 && sx >= 0 && sx < 6 ? input[i][sy][sx][0] : 0;
          expect(output[i][y][x][0]).toBe(expected);
        }
    }
    expect(shifts.size).toBeGreaterThan(10);
    tf.dispose([images, cropped]);
  });
});

describe('rotation method', () => {
  it('learns on the Fashion-MNIST sample: held-out rotations far above chance, kNN features kept', async () => {
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const testSet = await loadFashionMnist({ split: 'test', source: 'sample' });
    // A fixed encoder seed, so the random-init baseline is exactly the network training started from.
    const encoderSpec = { kind: 'cnn', inputShape: [28, 28, 1], channels: [16, 32, 64], batchNorm: true, seed: 11 } as const;
    // Measured before 0.2's defaults (pad-crop + flip, Nesterov): pinned to that behaviour so the figures above
    // stay what they say; the new defaults are not re-measured at this budget yet.
    const result = await train({
      method: registry.create('pretext:rotation', { augment: false }),
      optimizer: { nesterov: false },
      data: trainSet,
      encoder: encoderSpec,
      epochs: LEARNING_EPOCHS,
      batchSize: 64,
      seed: 1,
    });
    const knn = async (encoder: Parameters<typeof extractFeatures>[0]) => {
      const train = await extractFeatures(encoder, trainSet);
      const test = await extractFeatures(encoder, testSet);
      return (await knnClassify(train, test, { k: 20 })).top1;
    };
    const randomInit = createEncoder(encoderSpec);
    const trainedKnn = await knn(result.encoder);
    const randomKnn = await knn(randomInit);
    const heldOutRotation = await evaluateRotationAccuracy(result.encoder, result.runtime.trainable.head, testSet);
    // The same figure is what the runner reports as the method's own task, beside chance.
    const [reported] = await result.runtime.heldOutTask!(testSet, { seed: 0 });
    expect(reported).toEqual({
      name: 'rotation accuracy (4 rotations)',
      kind: 'accuracy',
      value: heldOutRotation,
      reference: { name: 'chance', value: 0.25 },
    });
    console.log(
      `rotation on sample: kNN@20 trained ${trainedKnn.toFixed(3)} vs random init ${randomKnn.toFixed(3)}; held-out rotation accuracy ${heldOutRotation.toFixed(3)}`,
    );
    expect(trainedKnn).toBeGreaterThan(KNN_FLOOR);
    expect(trainedKnn).toBeGreaterThan(randomKnn - KNN_MAX_DROP_FROM_RANDOM_INIT);
    expect(heldOutRotation).toBeGreaterThan(ROTATION_ACCURACY_FLOOR);
    randomInit.model.dispose();
    result.dispose();
    // ~200 s on a 2-core machine shared by six jobs; far less on an idle CI runner.
  }, 600_000);
});
