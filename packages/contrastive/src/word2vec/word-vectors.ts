import * as tf from '@tensorflow/tfjs-core';
import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import { Random, SslError, l2Normalize } from '@ssl/core';
import { noiseSampler } from './skip-gram-pairs';
import type { WordVocabulary } from './skip-gram-pairs';

/** A word and its cosine similarity to a query. */
export interface WordSimilarity {
  readonly word: string;
  readonly similarity: number;
}

/** Trained (or initial) word vectors with their vocabulary: the read-outs of `contrastive:word2vec`. */
export interface WordVectors {
  readonly vocabulary: WordVocabulary;
  /** Input vectors v_w [V, d] (row 0 is `<pad>`): the word representation word2vec keeps. */
  readonly input: Tensor2D;
  /** Output vectors v'_w [V, d]: the context side of the skip-gram score v'_o · v_c. */
  readonly output: Tensor2D;
  /** The k words whose input vectors are most cosine-similar to `word`'s (the word itself left out). */
  nearest(word: string, k?: number): WordSimilarity[];
  /**
   * Mikolov et al.'s analogy probe: the k words nearest (cosine) to v_a − v_b + v_c of unit vectors, a, b and c left
   * out; "king" − "man" + "woman" should give "queen" on a large corpus.
   */
  analogy(a: string, b: string, c: string, k?: number): WordSimilarity[];
}

function idOrThrow(vocabulary: WordVocabulary, word: string): number {
  const id = vocabulary.idOf(word);
  if (id === undefined) throw new SslError('invalid-config', `"${word}" is not in the vocabulary (${vocabulary.words.length - 1} words).`);
  return id;
}

/** The best k rows of cosine similarities, skipping `excluded` ids and `<pad>`. */
function topWords(vocabulary: WordVocabulary, similarities: Float32Array, excluded: readonly number[], k: number): WordSimilarity[] {
  const skip = new Set([0, ...excluded]);
  return Array.from(similarities, (similarity, id) => ({ id, similarity }))
    .filter(({ id }) => !skip.has(id))
    .sort((x, y) => y.similarity - x.similarity)
    .slice(0, k)
    .map(({ id, similarity }) => ({ word: vocabulary.words[id], similarity }));
}

/** Read-outs over word vectors (the caller keeps ownership of `input` and `output`). */
export function wordVectors(vocabulary: WordVocabulary, input: Tensor2D, output: Tensor2D): WordVectors {
  const similaritiesTo = (query: Tensor1D) =>
    tf.tidy(
      () =>
        tf.squeeze(tf.matMul(l2Normalize(input), tf.reshape(l2Normalize(tf.reshape(query, [1, -1])), [-1, 1]))).dataSync() as Float32Array,
    );
  return {
    vocabulary,
    input,
    output,
    nearest(word, k = 10) {
      const id = idOrThrow(vocabulary, word);
      const query = tf.tidy(() => tf.squeeze(tf.gather(input, [id])) as Tensor1D);
      const similarities = similaritiesTo(query);
      query.dispose();
      return topWords(vocabulary, similarities, [id], k);
    },
    analogy(a, b, c, k = 5) {
      const ids = [a, b, c].map((word) => idOrThrow(vocabulary, word));
      const query = tf.tidy(() => {
        const [va, vb, vc] = tf.unstack(l2Normalize(tf.gather(input, ids)));
        return tf.add(tf.sub(va, vb), vc) as Tensor1D;
      });
      const similarities = similaritiesTo(query);
      query.dispose();
      return topWords(vocabulary, similarities, ids, k);
    },
  };
}

/** What `heldOutCooccurrence` measures; chance is 0.5 for both accuracies. */
export interface CooccurrenceEvaluation {
  /** Positive pairs scored (each with one negative). */
  readonly pairs: number;
  /** Share of positive pairs whose skip-gram score v'_o · v_c beats their negative's (ties count ½). */
  readonly scoreAccuracy: number;
  /** The same with the cosine of the two words' input vectors (the similarity people use word vectors for). */
  readonly cosineAccuracy: number;
}

/**
 * Co-occurrence prediction on held-out sentences: every (w_i, w_j) with |i − j| ≤ window (in-vocabulary words, no
 * subsampling) is a positive pair; its negative pairs w_i with a word drawn from the unigram distribution of the
 * training counts. Negatives follow word frequency as context words do, so knowing only which words are frequent
 * scores 0.5: above it, the vectors know which words occur together in text they never saw.
 */
export function heldOutCooccurrence(
  vectors: WordVectors,
  sentences: readonly string[],
  options: { window?: number; seed?: number } = {},
): CooccurrenceEvaluation {
  const { vocabulary } = vectors;
  const window = options.window ?? 2;
  const rng = new Random(options.seed ?? 0);
  const centers: number[] = [];
  const contexts: number[] = [];
  for (const sentence of sentences) {
    const ids = vocabulary.encode(sentence);
    for (let i = 0; i < ids.length; i++) {
      for (let j = Math.max(0, i - window); j <= Math.min(ids.length - 1, i + window); j++) {
        if (j !== i) {
          centers.push(ids[i]);
          contexts.push(ids[j]);
        }
      }
    }
  }
  if (centers.length === 0) throw new SslError('data', 'heldOutCooccurrence: no in-vocabulary word pair in the held-out sentences.');
  const negatives = noiseSampler(vocabulary.counts, 1)(rng, centers.length);
  const [score, cosine] = tf.tidy(() => {
    const center = tf.gather(vectors.input, centers);
    const unitCenter = l2Normalize(center);
    const unitInput = l2Normalize(vectors.input);
    const rows = (matrix: Tensor2D, ids: ArrayLike<number>) => tf.gather(matrix, Int32Array.from(ids));
    const dot = (a: Tensor2D, b: Tensor2D) => tf.sum(tf.mul(a, b), 1);
    const accuracy = (positive: tf.Tensor, negative: tf.Tensor) =>
      tf.mean(tf.add(tf.cast(tf.greater(positive, negative), 'float32'), tf.mul(0.5, tf.cast(tf.equal(positive, negative), 'float32'))));
    return [
      accuracy(dot(center, rows(vectors.output, contexts)), dot(center, rows(vectors.output, negatives))).dataSync()[0],
      accuracy(dot(unitCenter, rows(unitInput, contexts)), dot(unitCenter, rows(unitInput, negatives))).dataSync()[0],
    ];
  });
  return { pairs: centers.length, scoreAccuracy: score, cosineAccuracy: cosine };
}
