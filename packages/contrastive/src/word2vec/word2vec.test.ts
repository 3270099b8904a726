import * as tf from '@tensorflow/tfjs-core';
import { Random, createRegistry, initBackend, loadFortunesSample, textCorpus, train } from '@ssl/core';
import { describeMethodContract, testBuildContext } from '@ssl/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import contrastive, {
  buildWordVocabulary,
  heldOutCooccurrence,
  noiseSampler,
  skipGramPairs,
  subsamplingKeepProbabilities,
  word2vec,
  wordVectors,
  wordVectorsOf,
  wordVocabulary,
} from '../index';
import type { Word2VecConfig, Word2VecRuntime } from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
}, 60_000);

/** The fortunes sample bundled with @ssl/core: one sentence a line. */
function fortunes(split: 'train' | 'test'): string[] {
  return [...loadFortunesSample({ split }).texts];
}

describeMethodContract({
  plugin: contrastive,
  pluginModule: new URL('../index.ts', import.meta.url),
  method: 'contrastive:word2vec',
  config: { dim: 8, window: 2, negatives: 3, minCount: 1, subsample: 0 },
  // The captions of image–caption pairs are a corpus too (core's 'text' kind reads them; checkRun probes their words):
  // the run has no image encoder.
  data: { imageText: { source: 'fashion-mnist-sample', size: 64 } },
  batchSize: 16,
  steps: 4,
  invalidConfigs: [
    { config: { dim: 0 }, field: 'dim' },
    { config: { window: 1.5 }, field: 'window' },
    { config: { negatives: 0 }, field: 'negatives' },
    { config: { minCount: -1 }, field: 'minCount' },
    { config: { maxVocabulary: 1 }, field: 'maxVocabulary' },
    { config: { subsample: -1e-3 }, field: 'subsample' },
    { config: { noisePower: 2 }, field: 'noisePower' },
  ],
  moreConfigs: [{ dim: 8, window: 3, negatives: 2, minCount: 1, subsample: 1e-2, noisePower: 1 }],
  checkRun(result) {
    for (const record of result.history) {
      // Each pair's loss is softplus terms ≥ 0; at the start (output vectors 0) it is (K + 1)·log 2.
      expect(record.loss).toBeGreaterThan(0);
      expect(record.metrics.pairs).toBeGreaterThan(0);
    }
    const vectors = wordVectorsOf(result.runtime);
    expect(vectors.nearest('photo', 3)).toHaveLength(3);
    // The encoder is the word vectors: a row of ids → the mean of their input vectors.
    const ids = [vectors.vocabulary.idOf('photo')!, vectors.vocabulary.idOf('picture')!];
    const [mean, rows] = tf.tidy(() => [
      result.runtime.encoder.features(tf.tensor2d([[ids[0], ids[1], 0]], [1, 3], 'int32')).dataSync(),
      tf.mean(tf.gather(vectors.input, ids), 0).dataSync(),
    ]);
    expect(Array.from(mean)).toEqual(Array.from(rows).map((v) => expect.closeTo(v, 6)));
  },
});

describe('skip-gram data: vocabulary, subsampling, noise, pairs', () => {
  const corpus = ['the cat sat on the mat', 'the dog sat', 'a cat and a dog', 'the end'];

  it('keeps words seen minCount times, most frequent first, with <pad> at id 0 and unknown words dropped', () => {
    const vocabulary = buildWordVocabulary(corpus, { minCount: 2, maxSize: 100 });
    expect(vocabulary.words).toEqual(['<pad>', 'the', 'a', 'cat', 'dog', 'sat']);
    expect(Array.from(vocabulary.counts)).toEqual([0, 4, 2, 2, 2, 2]);
    expect(Array.from(vocabulary.encode('The cat, on THE mat!'))).toEqual([1, 3, 1]);
    expect(vocabulary.idOf('mat')).toBeUndefined();
    expect(vocabulary.idOf('<pad>')).toBeUndefined();
    expect(buildWordVocabulary(corpus, { minCount: 1, maxSize: 3 }).words).toEqual(['<pad>', 'the', 'a']);
    expect(() => buildWordVocabulary(corpus, { minCount: 9, maxSize: 10 })).toThrow(/minCount/);
  });

  it('discards an occurrence of w with probability 1 − √(t / f(w)) (Mikolov et al. eq. 5), never below t', () => {
    const vocabulary = wordVocabulary(['<pad>', 'common', 'rare'], [0, 900, 100]);
    const keep = subsamplingKeepProbabilities(vocabulary, 0.01);
    expect(keep[1]).toBeCloseTo(Math.sqrt(0.01 / 0.9), 6);
    expect(keep[2]).toBeCloseTo(Math.sqrt(0.01 / 0.1), 6);
    expect(Array.from(subsamplingKeepProbabilities(vocabulary, 0.5))).toEqual([1, Math.min(1, Math.fround(Math.sqrt(0.5 / 0.9))), 1]);
    expect(Array.from(subsamplingKeepProbabilities(vocabulary, 0))).toEqual([1, 1, 1]);
  });

  it('draws noise words with frequencies ∝ count^power and never <pad>', () => {
    const counts = [0, 1000, 100, 10];
    const draws = noiseSampler(counts, 0.75)(new Random(3), 200_000);
    const frequency = [0, 0, 0, 0];
    draws.forEach((id) => frequency[id]++);
    const weights = counts.map((count) => (count > 0 ? count ** 0.75 : 0));
    const total = weights.reduce((a, b) => a + b, 0);
    expect(frequency[0]).toBe(0);
    for (let id = 1; id < 4; id++) expect(frequency[id] / draws.length).toBeCloseTo(weights[id] / total, 2);
  });

  it('pairs each centre with the words at most b ≤ window positions away, b uniform in 1..window', () => {
    const sentence = Int32Array.from({ length: 20 }, (_, i) => i + 1);
    const { centers, contexts } = skipGramPairs([sentence], { window: 3, rng: new Random(1) });
    const reach = new Map<number, number>();
    centers.forEach((center, p) => {
      const distance = Math.abs(center - contexts[p]);
      expect(distance).toBeGreaterThan(0);
      expect(distance).toBeLessThanOrEqual(3);
      reach.set(center, Math.max(reach.get(center) ?? 0, distance));
    });
    // Every centre is used, and its pairs are exactly the words within its drawn reach.
    expect(reach.size).toBe(20);
    for (const [center, b] of reach) {
      const expected = [];
      for (let other = Math.max(1, center - b); other <= Math.min(20, center + b); other++) if (other !== center) expected.push(other);
      expect(Array.from(contexts).filter((_, p) => centers[p] === center)).toEqual(expected);
    }
    expect(new Set(reach.values())).toEqual(new Set([1, 2, 3]));
    // Subsampling with keep 0 for word 5 removes it before the windows are formed: 4 and 6 become neighbours.
    const keep = new Float32Array(21).fill(1);
    keep[5] = 0;
    const without = skipGramPairs([sentence], { window: 1, keep, rng: new Random(1) });
    expect(Array.from(without.centers)).not.toContain(5);
    expect(Array.from(without.contexts).filter((_, p) => without.centers[p] === 4)).toEqual([3, 6]);
  });
});

describe('word vectors read-outs', () => {
  it('finds nearest words by cosine and solves a − b + c on vectors built to hold the analogy', () => {
    // king = royal + male, queen = royal + female, man = male, woman = female (one dimension each, plus noise words).
    const vocabulary = wordVocabulary(['<pad>', 'king', 'queen', 'man', 'woman', 'apple'], [0, 1, 1, 1, 1, 1]);
    const input = tf.tensor2d([0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, -1, 0, 0.1], [6, 3]);
    const vectors = wordVectors(vocabulary, input, tf.zerosLike(input) as tf.Tensor2D);
    expect(vectors.analogy('king', 'man', 'woman', 1)[0].word).toBe('queen');
    expect(vectors.nearest('king', 2).map((w) => w.word)).toEqual(['man', 'queen']);
    expect(vectors.nearest('king', 1)[0].similarity).toBeCloseTo(Math.SQRT1_2, 5);
    expect(() => vectors.nearest('prince')).toThrow(/not in the vocabulary/);
    tf.dispose([input, vectors.output]);
  });
});

describe('contrastive:word2vec learns on the fortunes sample', () => {
  it('predicts which words occur together in held-out sentences far better than the same model at random init', async () => {
    const sentences = textCorpus(fortunes('train'), 'fortunes-sample');
    const heldOut = fortunes('test');
    const method = createRegistry().use(contrastive()).create('contrastive:word2vec');
    const config = method.config as Word2VecConfig;
    const control = word2vec.build(
      testBuildContext<Word2VecConfig, 'text'>({
        config,
        inputShape: undefined,
        captions: sentences.texts,
        rng: new Random(0),
        createEncoder: () => {
          throw new Error('word2vec builds no image encoder');
        },
      }),
    ) as Word2VecRuntime;
    const atInit = heldOutCooccurrence(control.word2vec, heldOut, { seed: 1 });
    tf.dispose([control.word2vec.input, control.word2vec.output]);

    const run = await train({ method, data: sentences, epochs: 5, seed: 0 });
    const vectors = wordVectorsOf(run.runtime);
    const trained = heldOutCooccurrence(vectors, heldOut, { seed: 1 });
    const losses = run.history.map((r) => r.loss);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    console.log(
      `word2vec on the fortunes sample, ${run.history.length} steps: loss ${mean(losses.slice(0, 10)).toFixed(3)} → ${mean(losses.slice(-10)).toFixed(3)}; held-out co-occurrence (${trained.pairs} pairs, chance 50%): score ${(100 * trained.scoreAccuracy).toFixed(1)}% vs ${(100 * atInit.scoreAccuracy).toFixed(1)}% at random init, input cosine ${(100 * trained.cosineAccuracy).toFixed(1)}% vs ${(100 * atInit.cosineAccuracy).toFixed(1)}%`,
    );
    // Measured (seed 0): score 60.6% vs 50.0%, cosine 58.6% vs 49.0%; loss 4.10 → 2.39.
    expect(trained.scoreAccuracy).toBeGreaterThan(atInit.scoreAccuracy + 0.05);
    expect(trained.cosineAccuracy).toBeGreaterThan(atInit.cosineAccuracy + 0.05);
    expect(mean(losses.slice(-10))).toBeLessThan(mean(losses.slice(0, 10)) - 1);
    run.dispose();
  }, 180_000);
});
