import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { SslError, imageDataset } from '@ssl/core';
import type { ImageDataset } from '@ssl/core';
import { Random, useCpuBackend } from '@ssl/test-utils';
import { contextFreeHeldOutTask, heldOutVersusContextFree } from './held-out';
import type { ContextFreeGuess } from './held-out';

// 7 images of 2×2 pixels (4 positions), random bytes: the read-out's targets are the images themselves.
const rng = new Random(5);
const dataset: ImageDataset = imageDataset({
  images: Uint8Array.from({ length: 7 * 4 }, () => Math.floor(rng.next() * 256)),
  shape: [2, 2, 1],
});
const pixel = (n: number, p: number) => dataset.images[n * 4 + p] / 255;
/** Per image and position, a weight from a fixed table (0 = not scored), as a mask would give. */
const weightOf = (n: number, p: number) => [0, 1, 2, 0.5][(n + 2 * p) % 4];

/** Runs the loop in batches of 3 with targets = the pixels, weights = weightOf, and a constant prediction 0.5 as "the method". */
function run(guess: ContextFreeGuess, targets: (images: tf.Tensor4D) => tf.Tensor = (images) => tf.reshape(images, [-1, 4])) {
  let first = 0;
  return heldOutVersusContextFree(
    dataset,
    [guess],
    (images) => {
      const rows = images.shape[0];
      const weights = tf.tensor2d(
        Array.from({ length: rows * 4 }, (_, i) => weightOf(first + Math.floor(i / 4), i % 4)),
        [rows, 4],
      );
      first += rows;
      const error =
        guess.kind === 'median' ? tf.abs(tf.sub(tf.reshape(images, [-1, 4]), 0.5)) : tf.square(tf.sub(tf.reshape(images, [-1, 4]), 0.5));
      const value = tf.div(tf.sum(tf.mul(error, weights)), tf.sum(weights)).dataSync()[0];
      return [{ value, targets: targets(images), weights }];
    },
    { seed: 1, batchSize: 3 },
  );
}

describe('heldOutVersusContextFree', () => {
  beforeAll(useCpuBackend);

  it('scores the weighted mean at each position with the squared error, batches weighted by their normalizer', async () => {
    const [result] = await run({ kind: 'mean' });
    let loss = 0;
    let total = 0;
    let methodLoss = 0;
    for (let p = 0; p < 4; p++) {
      let weight = 0;
      let sum = 0;
      for (let n = 0; n < 7; n++) {
        weight += weightOf(n, p);
        sum += weightOf(n, p) * pixel(n, p);
      }
      const mean = sum / weight;
      for (let n = 0; n < 7; n++) {
        loss += weightOf(n, p) * (pixel(n, p) - mean) ** 2;
        methodLoss += weightOf(n, p) * (pixel(n, p) - 0.5) ** 2;
      }
      total += weight;
    }
    expect(result.reference).toBeCloseTo(loss / total, 6);
    // The three batches' means, weighted by Σ weights, give the mean over the whole set.
    expect(result.value).toBeCloseTo(methodLoss / total, 6);
    // No constant does better: moving any position's guess raises the loss.
    expect(result.reference).toBeLessThan(result.value);
  });

  it('scores the weighted median with the absolute error: no constant at any position does better', async () => {
    const [result] = await run({ kind: 'median' });
    let best = 0;
    let total = 0;
    for (let p = 0; p < 4; p++) {
      // The L1 optimum is at one of the values: try them all.
      let minimum = Infinity;
      for (let m = 0; m < 7; m++) {
        let loss = 0;
        for (let n = 0; n < 7; n++) loss += weightOf(n, p) * Math.abs(pixel(n, p) - pixel(m, p));
        minimum = Math.min(minimum, loss);
      }
      best += minimum;
      for (let n = 0; n < 7; n++) total += weightOf(n, p);
    }
    expect(result.reference).toBeCloseTo(best / total, 6);
  });

  it('scores the most frequent class and the class frequencies (their entropy) at each position', async () => {
    const classes = 3;
    const classOf = (n: number, p: number) => Math.floor(pixel(n, p) * classes * 0.999);
    const toClasses = (images: tf.Tensor4D) => tf.cast(tf.floor(tf.mul(tf.reshape(images, [-1, 4]), classes * 0.999)), 'int32');
    const [mode] = await run({ kind: 'mode', classes }, toClasses);
    const [frequencies] = await run({ kind: 'frequencies', classes }, toClasses);
    let hits = 0;
    let entropy = 0;
    let total = 0;
    for (let p = 0; p < 4; p++) {
      const counts = new Array<number>(classes).fill(0);
      for (let n = 0; n < 7; n++) counts[classOf(n, p)] += weightOf(n, p);
      const sum = counts.reduce((a, b) => a + b, 0);
      hits += Math.max(...counts);
      for (const count of counts) if (count > 0) entropy -= count * Math.log(count / sum);
      total += sum;
    }
    expect(mode.reference).toBeCloseTo(hits / total, 6);
    expect(frequencies.reference).toBeCloseTo(entropy / total, 6);
    expect(frequencies.reference).toBeGreaterThan(0);
  });

  it('draws from one Random(seed) for the whole pass, frees every tensor and rejects classes out of range', async () => {
    const draws = async (seed: number) => {
      const seen: number[] = [];
      await heldOutVersusContextFree(
        dataset,
        [{ kind: 'mean' }],
        (images, random) => {
          seen.push(random.next());
          return [{ value: 0, targets: images, weights: tf.ones([1, 1, 1, 1]) }];
        },
        { seed, batchSize: 2 },
      );
      return seen;
    };
    const before = tf.memory().numTensors;
    const first = await draws(9);
    expect(first).toHaveLength(4);
    expect(await draws(9)).toEqual(first);
    expect(await draws(10)).not.toEqual(first);
    expect(tf.memory().numTensors).toBe(before);
    await expect(
      heldOutVersusContextFree(
        dataset,
        [{ kind: 'mode', classes: 2 }],
        () => [{ value: 0, targets: tf.fill([1, 4], 2, 'int32'), weights: tf.ones([1, 4]) }],
        {
          seed: 0,
        },
      ),
    ).rejects.toThrow(SslError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('checks what a heldOutTask receives', async () => {
    const task = contextFreeHeldOutTask('masked:test', async () => []);
    await expect(task({ audio: [] }, { seed: 0 })).rejects.toThrow(/masked:test's held-out task reads an image dataset/);
    await expect(task(dataset, { seed: 0 })).resolves.toEqual([]);
  });
});
