import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { SslError, defineMethod, invalidConfig, requirePositiveInteger, tfl } from '@ssl/core';
import type { BuildContext, Encoder, MethodRuntime, TextBatch } from '@ssl/core';
import { skipGramNegativeSamplingLoss } from '../losses/skip-gram';
import { buildWordVocabulary, noiseSampler, skipGramPairs, subsamplingKeepProbabilities } from './skip-gram-pairs';
import { wordVectors } from './word-vectors';
import type { WordVectors } from './word-vectors';

/**
 * word2vec's skip-gram with negative sampling (Mikolov, Sutskever, Chen, Corrado, Dean 2013): every word of a
 * text predicts the words around it. Each word w has an input vector v_w (its representation) and an output
 * vector v'_w; an observed (centre, context) pair should score high, v'_o · v_c, and K noise words drawn from
 * the unigram distribution to the 3/4 should score low (`skipGramNegativeSamplingLoss`). Frequent words are
 * subsampled. Trains on the 'text' data kind (a corpus, or the captions of image–caption pairs).
 */
export interface Word2VecConfig {
  /** Size of the word vectors (paper: 300; small corpora need fewer). */
  dim: number;
  /** Largest distance between a centre and a context word; the reach of each centre is drawn from 1..window (paper: 5). */
  window: number;
  /** K, noise words per pair (paper: 5–20 for small data, 2–5 for large). */
  negatives: number;
  /** Words seen fewer times are left out of the vocabulary (and of the windows) (word2vec: 5). */
  minCount: number;
  /** At most this many words (with `<pad>`), the most frequent. */
  maxVocabulary: number;
  /** t of the subsampling of frequent words, 1 − √(t / f(w)) (paper: 1e-5 on billions of words; word2vec's default 1e-3); 0: off. */
  subsample: number;
  /** Exponent of the noise distribution P_n(w) ∝ count^power (paper: 3/4). */
  noisePower: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'contrastive:word2vec': Word2VecConfig;
  }
}

export type Word2VecRuntime = MethodRuntime<'text'> & { readonly word2vec: WordVectors };

/**
 * The word vectors as an Encoder (the run's representation): `features` of word ids [N, L] is the mean input
 * vector of each row's words (id 0, `<pad>`, ignored), a bag-of-words text embedding; [N, 1] gives word vectors.
 */
function wordVectorEncoder(model: tfl.LayersModel, input: tf.Variable, dim: number): Encoder {
  return {
    kind: 'word-vectors',
    inputShape: [1],
    featureDim: dim,
    model,
    features: (ids) =>
      tf.tidy(() => {
        const words = tf.cast(ids, 'int32') as Tensor2D;
        const present = tf.expandDims(tf.cast(tf.greater(words, 0), 'float32'), 2);
        const summed = tf.sum(tf.mul(tf.gather(input, words), present), 1);
        return tf.div(summed, tf.maximum(tf.sum(present, 1), 1)) as Tensor2D;
      }),
  };
}

/** One embedding matrix [V, dim] as a network the trainer optimizes and checkpoints. */
function vectorTable(
  name: string,
  words: number,
  dim: number,
  initializer: ReturnType<typeof tfl.initializers.zeros>,
): { model: tfl.LayersModel; table: tf.Variable } {
  const layer = tfl.layers.embedding({
    name: `${name}_table`,
    inputDim: words,
    outputDim: dim,
    inputLength: 1,
    embeddingsInitializer: initializer,
  });
  const model = tfl.sequential({ name, layers: [tfl.layers.inputLayer({ inputShape: [1], dtype: 'int32' }), layer] });
  return { model, table: layer.trainableWeights[0].read() as tf.Variable };
}

export const word2vec = defineMethod<Word2VecConfig, 'text'>({
  name: 'word2vec',
  description: 'Skip-gram with negative sampling: each word predicts its neighbours in text (word2vec, Mikolov et al. 2013).',
  paper: {
    title: 'Distributed Representations of Words and Phrases and their Compositionality',
    authors: 'Mikolov, Sutskever, Chen, Corrado, Dean',
    year: 2013,
    url: 'https://arxiv.org/abs/1310.4546',
  },
  data: 'text',
  defaults: { dim: 64, window: 5, negatives: 5, minCount: 5, maxVocabulary: 20000, subsample: 1e-3, noisePower: 0.75 },
  validate(config) {
    requirePositiveInteger('dim', config.dim);
    requirePositiveInteger('window', config.window);
    requirePositiveInteger('negatives', config.negatives);
    requirePositiveInteger('minCount', config.minCount);
    if (!(Number.isInteger(config.maxVocabulary) && config.maxVocabulary >= 2))
      invalidConfig('maxVocabulary', config.maxVocabulary, 'an integer ≥ 2 (<pad> and a word)');
    if (!(typeof config.subsample === 'number' && config.subsample >= 0 && config.subsample < 1))
      invalidConfig('subsample', config.subsample, 'a threshold t in [0, 1) (0: no subsampling; word2vec: 1e-3)');
    if (!(typeof config.noisePower === 'number' && config.noisePower >= 0 && config.noisePower <= 1))
      invalidConfig('noisePower', config.noisePower, 'an exponent in [0, 1] (Mikolov et al.: 0.75)');
  },
  // Texts have no image views.
  views: () => ({ unlabeled: 'none' }),
  training: {
    // word2vec runs SGD on one pair at a time with a linearly decaying rate; here batched updates with Adam (on the
    // fortunes sample, held-out co-occurrence: 60.6% after 5 epochs at lr 3e-2, 58.3% at 0.1; 61.1% after 10 at 1e-2, 51.3% at 3e-3).
    optimizer: { kind: 'adam', lr: 3e-2 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.02 },
    batchSize: 64,
    epochs: 5,
  },
  build: (context) => buildWord2Vec(context),
});

function buildWord2Vec({ config, captions, rng }: BuildContext<Word2VecConfig, 'text'>): Word2VecRuntime {
  if (!captions || captions.length === 0) throw new SslError('data', "contrastive:word2vec needs a text corpus (the 'text' data kind).");
  const vocabulary = buildWordVocabulary(captions, { minCount: config.minCount, maxSize: config.maxVocabulary });
  const { dim } = config;
  const size = vocabulary.words.length;
  // word2vec's initialisation: input vectors uniform in ±0.5/d, output vectors 0.
  const input = vectorTable(
    'word2vec_input_vectors',
    size,
    dim,
    tfl.initializers.randomUniform({ minval: -0.5 / dim, maxval: 0.5 / dim, seed: rng.seed() }),
  );
  const output = vectorTable('word2vec_output_vectors', size, dim, tfl.initializers.zeros());
  const keep = config.subsample > 0 ? subsamplingKeepProbabilities(vocabulary, config.subsample) : undefined;
  const noise = noiseSampler(vocabulary.counts, config.noisePower);
  const encoded = captions.map((text) => vocabulary.encode(text));
  return {
    encoder: wordVectorEncoder(input.model, input.table, dim),
    trainable: { inputVectors: input.model, outputVectors: output.model },
    word2vec: wordVectors(vocabulary, input.table as tf.Variable<tf.Rank.R2>, output.table as tf.Variable<tf.Rank.R2>),
    products: () => ({
      inputVectors: input.model,
      outputVectors: output.model,
      vocabulary: { json: { words: [...vocabulary.words], counts: Array.from(vocabulary.counts) } },
    }),
    step(batch: TextBatch, context) {
      const pairs = skipGramPairs(
        Array.from(batch.indices, (id) => encoded[id]),
        { window: config.window, ...(keep ? { keep } : {}), rng: context.rng },
      );
      const count = pairs.centers.length;
      if (count === 0) {
        throw new SslError(
          'data',
          'contrastive:word2vec: no word pair in this batch (texts of one known word?): raise batchSize or lower minCount.',
        );
      }
      const negatives = noise(context.rng, count * config.negatives);
      const centers = tf.gather(input.table, pairs.centers) as Tensor2D;
      const contexts = tf.gather(output.table, pairs.contexts) as Tensor2D;
      const noiseVectors = tf.reshape(tf.gather(output.table, negatives), [count, config.negatives, dim]) as Tensor3D;
      return { loss: skipGramNegativeSamplingLoss(centers, contexts, noiseVectors), metrics: { pairs: tf.scalar(count) } };
    },
  };
}

/** The word vectors of a `contrastive:word2vec` run (`train(...).runtime`), live: they follow further training. */
export function wordVectorsOf(runtime: MethodRuntime): WordVectors {
  const vectors = (runtime as Partial<Word2VecRuntime>).word2vec;
  if (!vectors) throw new SslError('invalid-config', 'Expected the runtime of a contrastive:word2vec run (train(...).runtime).');
  return vectors;
}
