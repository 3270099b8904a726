import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestBackend } from './fixtures/backend';
import { train } from './trainer';
import { planRun } from './plan';
import { textCorpus, textData } from '../data/text';
import { defineMethod } from '../method';
import { createEncoder } from '../nn/create-encoder';
import { definePlugin } from '../registry/plugin';
import { createRegistry } from '../registry/registry';

/*
 * Data without images (a text corpus here; modality pairs without an image side alike): the source has no image
 * shape, so the plan has no image encoder unless one is given, config.json records `encoder: null`, a method that
 * asks for an image encoder is told to pass one, and the collapse check (which embeds the data's images) is skipped.
 */

beforeAll(useTestBackend);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const corpus = textCorpus(['a short text', 'another text here', 'one more', 'and the last one of four'], 'four-texts');

/** What the last build saw. */
let seen: { inputShape?: readonly number[]; captions?: readonly string[]; imageEncoderShape?: readonly number[] } = {};

/**
 * A text method whose own encoder is a CNN over [4, 4, 1] "images" it makes from the texts' lengths: a 3-D input
 * of one channel, the case in which the collapse check used to feed it the data's images (a corpus has none).
 * With `imageTower` it also asks core for the run's image encoder.
 */
function textMethod(imageTower: boolean) {
  return defineMethod<{ imageTower: boolean }, 'text'>({
    name: imageTower ? 'text-with-image-tower' : 'text-only',
    description: 'a text method for core tests',
    data: 'text',
    defaults: { imageTower },
    views: () => ({}),
    training: { optimizer: { kind: 'sgd', lr: 0.01 }, schedule: { kind: 'constant' }, batchSize: 2 },
    build({ config, inputShape, captions, createEncoder: createImageEncoder, rng }) {
      const encoder = createEncoder({ kind: 'cnn', inputShape: [4, 4, 1], channels: [2], seed: rng.seed() });
      const imageEncoder = config.imageTower ? createImageEncoder() : undefined;
      seen = { inputShape, captions, imageEncoderShape: imageEncoder?.inputShape };
      return {
        encoder,
        trainable: { encoder: encoder.model, ...(imageEncoder ? { imageEncoder: imageEncoder.model } : {}) },
        step(batch) {
          const lengths = tf.tensor1d(batch.texts.map((text) => text.length / 30));
          const images = tf.mul(tf.ones([batch.texts.length, 4, 4, 1]), tf.reshape(lengths, [-1, 1, 1, 1])) as tf.Tensor4D;
          return { loss: tf.mean(tf.square(encoder.features(images, { training: true }))) as tf.Scalar };
        },
      };
    },
  });
}

const registry = createRegistry().use(
  definePlugin({
    name: 'text-test',
    version: '0.0.1',
    family: 'test',
    core: '>=0.0.0',
    methods: { 'text-only': textMethod(false), 'text-with-image-tower': textMethod(true) },
    dataKinds: { text: textData },
  }),
);

describe('data without images', () => {
  it('plans no image encoder, gives the build no inputShape but the texts, records encoder: null and skips the collapse probe', async () => {
    const method = registry.create('test:text-only' as never);
    expect(planRun({ method, data: corpus }).encoder).toBeUndefined();
    const dir = mkdtempSync(join(tmpdir(), 'ssl-no-image-'));
    dirs.push(dir);
    // collapseEverySteps 1: the probe would run after every step, and reading the corpus's images throws.
    const result = await train({ method, data: corpus, epochs: 2, seed: 1, outDir: dir, guard: { collapseEverySteps: 1 } });
    try {
      expect(result.steps).toBe(4);
      expect(result.history.every((record) => Number.isFinite(record.loss))).toBe(true);
      expect(seen.inputShape).toBeUndefined();
      expect(seen.captions).toEqual(corpus.texts);
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { encoder: unknown; trainedEncoder: { kind: string } };
      expect(config.encoder).toBeNull();
      expect(config.trainedEncoder.kind).toBe('cnn');
    } finally {
      result.dispose();
    }
  });

  it('tells a method that asks for an image encoder to pass `encoder`, and builds the given one', async () => {
    const method = registry.create('test:text-with-image-tower' as never);
    await expect(train({ method, data: corpus, epochs: 1, seed: 1 })).rejects.toMatchObject({
      code: 'data',
      message: expect.stringMatching(/test:text-with-image-tower builds an image encoder, but four-texts has no images .*pass `encoder`/),
    });
    const result = await train({
      method,
      data: corpus,
      encoder: { kind: 'cnn', inputShape: [8, 8, 1], channels: [2] },
      epochs: 1,
      seed: 1,
    });
    try {
      expect(seen.imageEncoderShape).toEqual([8, 8, 1]);
      expect(Object.keys(result.runtime.trainable)).toEqual(['encoder', 'imageEncoder']);
    } finally {
      result.dispose();
    }
  });
});
