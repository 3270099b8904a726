import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createRegistry, initBackend, loadFashionMnist, loadSpokenClasses, makeDataset, subset, train } from '@ssl/core';
import type { AudioDataset, BatchRequest, ImageDataset } from '@ssl/core';
import { describeMethodContract } from '@ssl/test-utils';
import clipPlugin, {
  audioVisualModelOf,
  augmentedWaveforms,
  classRetrievalRecall,
  clipsByClass,
  evaluateAudioVisual,
  imageAudioData,
  multiPositiveInfoNce,
  spokenZeroShotAccuracy,
} from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describeMethodContract({
  plugin: clipPlugin,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'clip:audio-visual',
  config: { audioChannels: [4, 8], fusionDim: 16, embeddingDim: 8, melBins: 16 },
  data: { imageAudio: { source: 'fashion-mnist-sample', size: 64 } },
  encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { embeddingDim: 0 }, field: 'embeddingDim' },
    { config: { audioChannels: [] }, field: 'audioChannels' },
    { config: { variant: 'vggish' }, field: 'variant' },
    { config: { variant: 'l3', objective: 'contrastive' }, field: 'objective' },
    { config: { temperature: 0 }, field: 'temperature' },
    { config: { frameStepSeconds: 0 }, field: 'frameStepSeconds' },
  ],
  moreConfigs: [
    { audioChannels: [4, 8], fusionDim: 16, embeddingDim: 8, melBins: 16, objective: 'all' },
    { audioChannels: [4, 8], fusionDim: 16, embeddingDim: 8, melBins: 16, objective: 'pairs' },
    { audioChannels: [4, 8], fusionDim: 16, melBins: 16, variant: 'l3', objective: 'pairs' },
  ],
});

describe('multiPositiveInfoNce', () => {
  it('equals a plain-loop reference, skips rows without a positive, and is the CLIP row loss with one positive', () => {
    const logits = [
      [2, -1, 0.5],
      [0.1, 0.2, 0.3],
      [-3, 4, 1],
    ];
    const positives = [
      [1, 0, 1],
      [0, 0, 0],
      [0, 1, 0],
    ];
    let total = 0;
    let rows = 0;
    logits.forEach((row, i) => {
      const count = positives[i].reduce((a, b) => a + b, 0);
      if (count === 0) return;
      const logSum = Math.log(row.reduce((sum, z) => sum + Math.exp(z), 0));
      total += row.reduce((sum, z, j) => sum - (positives[i][j] / count) * (z - logSum), 0);
      rows++;
    });
    const loss = multiPositiveInfoNce(tf.tensor2d(logits), tf.tensor2d(positives));
    expect(loss.dataSync()[0]).toBeCloseTo(total / rows, 5);
    const identity = multiPositiveInfoNce(tf.tensor2d(logits), tf.eye(3) as tf.Tensor2D);
    const crossEntropy = tf.losses.softmaxCrossEntropy(tf.eye(3), tf.tensor2d(logits));
    expect(identity.dataSync()[0]).toBeCloseTo(crossEntropy.dataSync()[0], 5);
  });
});

const EPOCHS = 4;
const CORRESPONDENCE_BAR = 0.6;
const ZERO_SHOT_BAR = 0.25;
const RECALL_AT_1_BAR = 0.15;
/** pairing 'pair' on the 2000 sample images each with one clip of its class: 4 epochs at batch 64 (124 steps, as the class-paired test). */
const PAIR_IMAGES = 2000;
const PAIR_EPOCHS = 4;
const PAIR_CORRESPONDENCE_BAR = 0.6;

describe('classRetrievalRecall', () => {
  it('equals a plain-loop reference and breaks ties against the query', () => {
    const rng = new Random(3);
    const [n, m, d] = [7, 11, 3];
    const queries = Array.from({ length: n }, () => Array.from({ length: d }, () => rng.normal()));
    const gallery = Array.from({ length: m }, () => Array.from({ length: d }, () => rng.normal()));
    const queryLabels = Array.from({ length: n }, () => rng.int(3));
    const galleryLabels = Array.from({ length: m }, (_, j) => j % 3);
    const cosine = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0) / Math.hypot(...a) / Math.hypot(...b);
    const expected = (k: number) =>
      queries.filter((query, i) => {
        const order = gallery.map((item, j) => ({ j, s: cosine(query, item) })).sort((a, b) => b.s - a.s);
        return order.slice(0, k).some(({ j }) => galleryLabels[j] === queryLabels[i]);
      }).length / n;
    const recall = classRetrievalRecall(tf.tensor2d(queries), queryLabels, tf.tensor2d(gallery), galleryLabels, [1, 2, 5]);
    expect(recall[1]).toBeCloseTo(expected(1), 6);
    expect(recall[2]).toBeCloseTo(expected(2), 6);
    expect(recall[5]).toBeCloseTo(expected(5), 6);
    // A constant embedding retrieves nothing: every item ties, and ties count against the query.
    const constant = classRetrievalRecall(
      tf.ones([3, 2]) as tf.Tensor2D,
      [0, 1, 2],
      tf.ones([6, 2]) as tf.Tensor2D,
      [0, 1, 2, 0, 1, 2],
      [1],
    );
    expect(constant[1]).toBe(0);
  });
});

describe('clip:audio-visual', () => {
  it('pairs each image with a clip of its class or of another, half and half, with gain and time-shift augmentation', () => {
    const audio = loadSpokenClasses({ split: 'train' });
    const byClass = clipsByClass({ images: { labels: Int32Array.from([0, 1]), numClasses: 10 } as ImageDataset, audio }, 'm');
    expect(byClass.map((clips) => clips.length)).toEqual(Array(10).fill(10));
    const shifted = augmentedWaveforms(audio, [0], new Random(1));
    // A rotation and a gain of the original clip: the same energy up to the gain squared.
    const energy = (values: Float32Array) => values.reduce((sum, v) => sum + v * v, 0);
    const ratio = energy(shifted) / energy(audio.samples.subarray(0, audio.length));
    expect(ratio).toBeGreaterThan(0.6 ** 2 - 1e-6);
    expect(ratio).toBeLessThan(1.4 ** 2 + 1e-6);
    expect(() => imageAudioData.open({ images: {} }, 'clip:audio-visual')).toThrow(/trains on \{ images, audio \}/);
  });

  it("with pairing 'pair' pairs each image with its own clip or another pair's, of its class or not", async () => {
    // Six pairs of two classes: image i is filled with i, clip i is constant i / 10.
    const size = 6;
    const images = makeDataset({
      images: Uint8Array.from({ length: size * 4 }, (_, k) => Math.floor(k / 4)),
      shape: [2, 2, 1],
      labels: Int32Array.from([0, 0, 0, 1, 1, 1]),
      name: 'pairs',
      size,
    });
    const length = 8;
    const audio: AudioDataset = {
      name: 'pairs (audio)',
      sampleRate: 8000,
      length,
      samples: Float32Array.from({ length: size * length }, (_, k) => Math.floor(k / length) / 10),
      labels: Int32Array.from([0, 0, 0, 1, 1, 1]),
      classNames: ['a', 'b'],
      texts: Array(size).fill(''),
      voices: Array(size).fill(''),
      size,
    };
    const source = imageAudioData.open({ images, audio, pairing: 'pair' }, 'clip:audio-visual');
    const ids = Int32Array.from([0, 1, 2, 3, 4, 5]);
    const seen = { own: 0, sameClassOther: 0, otherClass: 0 };
    for (let step = 0; step < 20; step++) {
      const made = await source.batch({ ids, viewRng: new Random(step) } as unknown as BatchRequest);
      const correspond = made.batch.correspond.dataSync();
      const matrix = made.batch.correspondMatrix.arraySync();
      const waveforms = made.batch.waveforms.arraySync();
      // The rows given another pair's clip get each other's: every image's own clip is in the batch (one positive a row).
      if (correspond.filter((value) => value === 0).length !== 1) matrix.forEach((row) => expect(row.reduce((a, b) => a + b, 0)).toBe(1));
      ids.forEach((id, column) => {
        // Every pair is in the batch, so column j (row j's clip) corresponds to exactly one image: the clip's own.
        const owners = matrix.flatMap((row, i) => (row[column] === 1 ? [ids[i]] : []));
        expect(owners).toHaveLength(1);
        const clip = owners[0];
        expect(clip === id).toBe(correspond[column] === 1);
        // The row's waveform is that clip (constant clip / 10) under a gain in [0.6, 1.4].
        if (clip > 0) waveforms[column].forEach((value) => expect(value / (clip / 10)).toBeGreaterThan(0.6 - 1e-3));
        if (clip === id) seen.own++;
        else if (images.labels![clip] === images.labels![id]) seen.sameClassOther++;
        else seen.otherClass++;
      });
      tf.dispose(made.owned);
    }
    // Half own clips; the negatives are other pairs' clips, of the image's class as well as of the other.
    expect(seen.own).toBeGreaterThan(40);
    expect(seen.own).toBeLessThan(80);
    expect(seen.sameClassOther).toBeGreaterThan(10);
    expect(seen.otherClass).toBeGreaterThan(20);
    expect(() => imageAudioData.open({ images, audio: { ...audio, size: 5 }, pairing: 'pair' }, 'm')).toThrow(
      /pairing 'pair' needs one clip per image \(clip i is image i's\), got 6 images and 5 clips/,
    );
  });

  it("with pairing 'pair' learns from each image's own clip alone, and tells held-out pairs from swapped ones", async () => {
    // Explicit pairs made from the bundled data: each image gets one clip of its class, drawn once by seed, and
    // trains only with that clip (the negatives are other pairs' clips, of its class 1 time in 10).
    const pairUp = (images: ImageDataset, audio: AudioDataset, seed: number) => {
      const rng = new Random(seed);
      const byClass = clipsByClass({ images, audio }, 'pairs');
      const clips = Array.from(images.labels!, (label) => byClass[label][rng.int(byClass[label].length)]);
      const samples = new Float32Array(clips.length * audio.length);
      clips.forEach((clip, i) => samples.set(audio.samples.subarray(clip * audio.length, (clip + 1) * audio.length), i * audio.length));
      const pick = <T>(values: readonly T[]) => clips.map((clip) => values[clip]);
      const paired: AudioDataset = {
        ...audio,
        samples,
        labels: Int32Array.from(pick(Array.from(audio.labels))),
        texts: pick(audio.texts),
        voices: pick(audio.voices),
        size: clips.length,
      };
      return { images, audio: paired, pairing: 'pair' as const };
    };
    const count = (n: number) => Array.from({ length: n }, (_, i) => i);
    const trainPairs = pairUp(
      subset(await loadFashionMnist({ split: 'train', source: 'sample' }), count(PAIR_IMAGES)),
      loadSpokenClasses({ split: 'train' }),
      0,
    );
    const heldOut = pairUp(
      subset(await loadFashionMnist({ split: 'test', source: 'sample' }), count(200)),
      loadSpokenClasses({ split: 'test' }),
      1,
    );
    const trainFor = async (epochs: number) =>
      train({
        method: createRegistry().use(clipPlugin()).create('clip:audio-visual', { fusionDim: 64 }),
        data: trainPairs,
        encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16, 32] },
        batchSize: 64,
        epochs,
        seed: 0,
        optimizer: { lr: 3e-3 },
      });
    const started = performance.now();
    const result = await trainFor(PAIR_EPOCHS);
    const seconds = (performance.now() - started) / 1000;
    const trained = evaluateAudioVisual(audioVisualModelOf(result.runtime), heldOut.images, heldOut.audio, { seed: 1, pairing: 'pair' });
    const figures = await result.runtime.heldOutTask!(heldOut, { seed: 1 });
    expect(figures.map((figure) => [figure.name, figure.value, figure.reference.value])).toEqual([
      ["image–sound correspondence accuracy (own clip vs another pair's)", trained.correspondenceAccuracy, 0.5],
      ['audio→image pair recall@1 (own image among 200)', trained.audioToImageRecall![1], 1 / 200],
      ['audio→image pair recall@5 (own image among 200)', trained.audioToImageRecall![5], 5 / 200],
    ]);
    console.log(
      `pairing 'pair': held-out own-clip correspondence ${(100 * trained.correspondenceAccuracy).toFixed(1)}% (chance 50%), ` +
        `pair recall@1 ${(100 * trained.audioToImageRecall![1]).toFixed(1)}% @5 ${(100 * trained.audioToImageRecall![5]).toFixed(1)}% ` +
        `(chance 0.5%, 2.5%), ${result.steps} steps, ${seconds.toFixed(0)} s`,
    );
    result.dispose();
    expect(trained.correspondenceAccuracy).toBeGreaterThan(PAIR_CORRESPONDENCE_BAR);
  }, 600_000);

  it('learns to tell whether a garment and a spoken name belong together, for a voice it never heard', async () => {
    const images = await loadFashionMnist({ split: 'train', source: 'sample' });
    const audio = loadSpokenClasses({ split: 'train' });
    const method = createRegistry().use(clipPlugin()).create('clip:audio-visual', { fusionDim: 64 });
    const started = performance.now();
    const result = await train({
      method,
      data: {
        images: subset(
          images,
          Array.from({ length: 2000 }, (_, i) => i),
        ),
        audio,
      },
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16, 32] },
      batchSize: 64,
      epochs: EPOCHS,
      seed: 0,
      optimizer: { lr: 3e-3 },
    });
    const seconds = (performance.now() - started) / 1000;
    const model = audioVisualModelOf(result.runtime);
    const testImages = subset(
      await loadFashionMnist({ split: 'test', source: 'sample' }),
      Array.from({ length: 500 }, (_, i) => i),
    );
    const testVoice = loadSpokenClasses({ split: 'test' });
    const { correspondenceAccuracy, audioToImageRecall } = evaluateAudioVisual(model, testImages, testVoice, { seed: 1 });
    const zeroShot = spokenZeroShotAccuracy(model, testImages, testVoice);
    // What `ssl pretrain` reports as the method's own task: the same read-out, beside chance.
    const reported = await result.runtime.heldOutTask!({ images: testImages, audio: testVoice }, { seed: 1 });
    expect(reported.map((figure) => [figure.name, figure.value, figure.reference.value])).toEqual([
      ['image–sound correspondence accuracy', correspondenceAccuracy, 0.5],
      ['audio→image class recall@1', audioToImageRecall![1], expect.closeTo(0.1, 10)],
      ['audio→image class recall@5', audioToImageRecall![5], expect.closeTo(1 - 0.9 ** 5, 10)],
      ['zero-shot top-1 from spoken class names', zeroShot, expect.closeTo(0.1, 10)],
    ]);
    console.log(
      `held-out correspondence ${(100 * correspondenceAccuracy).toFixed(1)}% (chance 50%), audio→image class retrieval ` +
        `recall@1 ${(100 * audioToImageRecall![1]).toFixed(1)}% (chance 10%) @5 ${(100 * audioToImageRecall![5]).toFixed(1)}%, ` +
        `zero-shot from the held-out voice's class names ${(100 * zeroShot).toFixed(1)}% (chance 10%), ${result.steps} steps, ${seconds.toFixed(0)} s`,
    );
    result.dispose();
    expect(correspondenceAccuracy).toBeGreaterThan(CORRESPONDENCE_BAR);
    expect(audioToImageRecall![1]).toBeGreaterThan(RECALL_AT_1_BAR);
    expect(zeroShot).toBeGreaterThan(ZERO_SHOT_BAR);
  }, 600_000);
});
