import { SslError, invalidConfig, splitWords } from '@ssl/core';
import type { Random } from '@ssl/core';

/** Words of a corpus by decreasing count; id 0 is `<pad>` (count 0: never a centre, a context or a noise word). */
export interface WordVocabulary {
  readonly words: readonly string[];
  /** Occurrences of each word in the corpus it was built from (0 for `<pad>`). */
  readonly counts: Int32Array;
  /** Occurrences of all kept words. */
  readonly totalCount: number;
  /** Word ids of a text, words outside the vocabulary left out (as word2vec does before it forms windows). */
  encode(text: string): Int32Array;
  idOf(word: string): number | undefined;
}

export const PAD_WORD = '<pad>';

/** The vocabulary of a corpus: words seen at least `minCount` times, the `maxSize` most frequent (ties by spelling). */
export function buildWordVocabulary(texts: Iterable<string>, options: { minCount: number; maxSize: number }): WordVocabulary {
  const counts = new Map<string, number>();
  for (const text of texts) for (const word of splitWords(text)) counts.set(word, (counts.get(word) ?? 0) + 1);
  const kept = [...counts]
    .filter(([, count]) => count >= options.minCount)
    .sort(([a, countA], [b, countB]) => countB - countA || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, Math.max(0, options.maxSize - 1));
  if (kept.length === 0) {
    throw new SslError('data', `The corpus has no word seen ${options.minCount} times or more: lower minCount or give more text.`);
  }
  return wordVocabulary([PAD_WORD, ...kept.map(([word]) => word)], [0, ...kept.map(([, count]) => count)]);
}

/** A vocabulary from its words and counts (as saved in a run's `vocabulary` product). */
export function wordVocabulary(words: readonly string[], counts: ArrayLike<number>): WordVocabulary {
  const index = new Map(words.map((word, id) => [word, id] as [string, number]));
  const countArray = Int32Array.from(counts);
  return {
    words,
    counts: countArray,
    totalCount: countArray.reduce((sum, count) => sum + count, 0),
    idOf: (word) => {
      const id = index.get(word);
      return id === undefined || id === 0 ? undefined : id;
    },
    encode: (text) =>
      Int32Array.from(
        splitWords(text)
          .map((word) => index.get(word) ?? 0)
          .filter((id) => id > 0),
      ),
  };
}

/**
 * Probability of keeping each occurrence of a word under Mikolov et al.'s subsampling of frequent words (2013,
 * eq. 5: an occurrence of w is discarded with probability 1 − √(t / f(w)), f its corpus frequency); t = 0 keeps all.
 */
export function subsamplingKeepProbabilities(vocabulary: WordVocabulary, threshold: number): Float32Array {
  if (!(threshold >= 0)) invalidConfig('subsample', threshold, 'a threshold t ≥ 0 (0: no subsampling; Mikolov et al.: 1e-5 to 1e-3)');
  return Float32Array.from(vocabulary.counts, (count) =>
    threshold === 0 || count === 0 ? 1 : Math.min(1, Math.sqrt(threshold / (count / vocabulary.totalCount))),
  );
}

/**
 * Draws noise words from P_n(w) ∝ count(w)^power (Mikolov et al. 2013: the unigram distribution to the 3/4, which
 * "significantly outperformed" the unigram and the uniform distributions); power 1 is the unigram distribution.
 */
export function noiseSampler(counts: ArrayLike<number>, power: number): (rng: Random, size: number) => Int32Array {
  const cumulative = new Float64Array(counts.length);
  let total = 0;
  for (let id = 0; id < counts.length; id++) {
    total += counts[id] > 0 ? counts[id] ** power : 0;
    cumulative[id] = total;
  }
  if (!(total > 0)) throw new SslError('data', 'noiseSampler: every count is 0.');
  return (rng, size) => {
    const out = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const target = rng.next() * total;
      let low = 0;
      let high = counts.length - 1;
      while (low < high) {
        const middle = (low + high) >> 1;
        if (cumulative[middle] > target) high = middle;
        else low = middle + 1;
      }
      out[i] = low;
    }
    return out;
  };
}

/** (centre, context) word-id pairs, in the order they were formed. */
export interface SkipGramPairs {
  readonly centers: Int32Array;
  readonly contexts: Int32Array;
}

/**
 * The skip-gram training pairs of some sentences (word ids): frequent words are first subsampled (`keep`, see
 * subsamplingKeepProbabilities); then each remaining word is a centre whose contexts are the words at most b
 * positions away, b drawn uniformly from 1..window for every centre (word2vec's reduced window, which gives near
 * words more weight, as Mikolov et al. 2013a sec. 3.2 describe).
 */
export function skipGramPairs(
  sentences: readonly Int32Array[],
  options: { window: number; keep?: Float32Array; rng: Random },
): SkipGramPairs {
  const { window, keep, rng } = options;
  const centers: number[] = [];
  const contexts: number[] = [];
  for (const sentence of sentences) {
    const kept = keep ? sentence.filter((id) => rng.next() < keep[id]) : sentence;
    for (let i = 0; i < kept.length; i++) {
      const reach = 1 + rng.int(window);
      for (let j = Math.max(0, i - reach); j <= Math.min(kept.length - 1, i + reach); j++) {
        if (j === i) continue;
        centers.push(kept[i]);
        contexts.push(kept[j]);
      }
    }
  }
  return { centers: Int32Array.from(centers), contexts: Int32Array.from(contexts) };
}
