import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { Random, SslError, WordTokenizer, createEncoder, invalidConfig, splitWords, tfl } from '@ssl/core';
import type { TextTransformerEncoder } from '@ssl/core';

/** The token BERT replaces a selected word with; `splitWords` never yields it, so no text collides with it. */
export const MASK_TOKEN = '<mask>';

/**
 * A word tokenizer for masked language modelling: core's four special tokens, then `<mask>` (id 4), then the
 * corpus's words by decreasing frequency (at most vocabLimit tokens in all).
 */
export function mlmTokenizer(corpus: Iterable<string>, options: { maxLength: number; vocabLimit: number }): WordTokenizer {
  if (!(Number.isInteger(options.vocabLimit) && options.vocabLimit >= 6))
    invalidConfig('vocabLimit', options.vocabLimit, 'an integer ≥ 6 (4 special tokens, <mask> and a word)');
  const base = WordTokenizer.fromCorpus(corpus, { maxLength: options.maxLength, vocabLimit: options.vocabLimit - 1 }).toJSON();
  return WordTokenizer.fromJSON({ ...base, vocabulary: [...base.vocabulary.slice(0, 4), MASK_TOKEN, ...base.vocabulary.slice(4)] });
}

/** The id of `<mask>` in a tokenizer made by mlmTokenizer. */
export function maskIdOf(tokenizer: WordTokenizer): number {
  // encode() splits on non-letters (it would read "<mask>" as the word "mask"): look the token up instead.
  const maskId = tokenizer.toJSON().vocabulary.indexOf(MASK_TOKEN);
  if (maskId < 0) throw new SslError('invalid-config', `The tokenizer has no ${MASK_TOKEN} token: build it with mlmTokenizer().`);
  return maskId;
}

export interface BertMasking {
  /** Token ids (any number of rows laid end to end) with the selected positions replaced. */
  readonly inputs: Int32Array;
  /** The original ids [rows × length] (the targets at selected positions). */
  readonly targets: Int32Array;
  /** 1 at the selected positions, else 0 [rows × length]. */
  readonly selected: Float32Array;
}

/**
 * BERT's masking (Devlin et al. 2019, sec. 3.1 "Task #1: Masked LM"): each word token (not <pad>, <bos>, <eos>)
 * is selected with probability `rate` (15%); a selected token becomes <mask> 80% of the time, a random word
 * 10%, and stays unchanged 10%; the model is asked for the original token at every selected position.
 */
export function bertMasking(
  ids: Int32Array,
  options: { maskId: number; vocabSize: number; rng: Random; rate?: number; specialIds?: readonly number[] },
): BertMasking {
  const rate = options.rate ?? 0.15;
  if (!(rate > 0 && rate < 1)) invalidConfig('rate', rate, 'a probability in (0, 1) (BERT: 0.15)');
  const special = new Set(options.specialIds ?? [0, 2, 3]);
  special.add(options.maskId);
  const firstWord = Math.max(...special) + 1;
  const { rng } = options;
  const inputs = Int32Array.from(ids);
  const selected = new Float32Array(ids.length);
  const choose = (at: number) => {
    selected[at] = 1;
    const draw = rng.next();
    if (draw < 0.8) inputs[at] = options.maskId;
    else if (draw < 0.9) inputs[at] = firstWord + rng.int(options.vocabSize - firstWord);
  };
  ids.forEach((id, at) => {
    if (!special.has(id) && rng.next() < rate) choose(at);
  });
  return { inputs, targets: Int32Array.from(ids), selected };
}

/**
 * The masked-LM loss: cross-entropy of the original token at the selected positions, averaged over them.
 * logits [N, L, V], targets [N, L] int32, selected [N, L] of 0/1.
 */
export function maskedLanguageModelLoss(logits: Tensor3D, targets: Tensor2D, selected: Tensor2D): Scalar {
  return tf.tidy(() => {
    const [, , vocabulary] = logits.shape;
    const logProbabilities = tf.logSoftmax(logits, 2);
    const picked = tf.sum(tf.mul(logProbabilities, tf.oneHot(tf.cast(targets, 'int32'), vocabulary)), 2);
    return tf.div(tf.neg(tf.sum(tf.mul(picked, selected))), tf.maximum(tf.sum(selected), 1)) as Scalar;
  });
}

export interface TextTowerShape {
  embedDim: number;
  depth: number;
  numHeads: number;
  maxLength: number;
  mlpRatio: number;
}

export interface PretrainTextTowerOptions {
  readonly texts: readonly string[];
  readonly tokenizer: WordTokenizer;
  readonly text: TextTowerShape;
  readonly steps: number;
  readonly batchSize?: number;
  readonly lr?: number;
  readonly seed?: number;
  /** Called every `logEvery` steps with the mean loss and masked-token accuracy since the last call. */
  readonly onLog?: (record: { step: number; loss: number; accuracy: number }) => void;
  readonly logEvery?: number;
}

/**
 * Masked-language-model pretraining of a text tower of CLIP's shape with bidirectional attention (BERT; the
 * <mask> at position i must be read from both sides): the tower's token outputs → a linear layer over the
 * vocabulary, Adam with linear warmup (10%) and linear decay. Returns the tower (pass it to
 * `clipWithTextTower`) and its loss curve; the MLM head is discarded, as BERT's is.
 */
export function pretrainTextTower(options: PretrainTextTowerOptions): { encoder: TextTransformerEncoder; losses: number[] } {
  const { tokenizer, text, steps } = options;
  const batchSize = options.batchSize ?? 64;
  const baseLr = options.lr ?? 1e-3;
  const rng = new Random(options.seed ?? 0);
  if (options.texts.length === 0) throw new SslError('data', 'pretrainTextTower: no texts to pretrain on.');
  const maskId = maskIdOf(tokenizer);
  const encoder = createEncoder({
    kind: 'text',
    vocabSize: tokenizer.vocabSize,
    maxLength: text.maxLength,
    embedDim: text.embedDim,
    depth: text.depth,
    numHeads: text.numHeads,
    mlpRatio: text.mlpRatio,
    padId: tokenizer.padId,
    causal: false,
    seed: rng.seed(),
  }) as TextTransformerEncoder;
  const head = tfl.layers.dense({ units: tokenizer.vocabSize, kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.seed() }) });
  head.build([null, text.embedDim]);
  const variables = [...encoder.model.trainableWeights, ...head.trainableWeights].map((weight) => weight.read() as tf.Variable);
  const optimizer = tf.train.adam(baseLr, 0.9, 0.98, 1e-6);
  const encoded = options.texts.map((t) => tokenizer.encode(t));
  const losses: number[] = [];
  let window = { loss: 0, accuracy: 0, count: 0 };
  const warmup = Math.max(1, Math.round(0.1 * steps));
  for (let step = 0; step < steps; step++) {
    const rows = Array.from({ length: batchSize }, () => encoded[rng.int(encoded.length)]);
    const ids = new Int32Array(batchSize * text.maxLength);
    rows.forEach((row, i) => ids.set(row, i * text.maxLength));
    const masking = bertMasking(ids, { maskId, vocabSize: tokenizer.vocabSize, rng });
    // Linear warmup, then linear decay to 0 (BERT's schedule).
    (optimizer as unknown as { learningRate: number }).learningRate =
      baseLr * (step < warmup ? (step + 1) / warmup : Math.max(0, (steps - step) / (steps - warmup)));
    const { lossValue, accuracy } = tf.tidy(() => {
      const inputs = tf.tensor2d(masking.inputs, [batchSize, text.maxLength], 'int32');
      const targets = tf.tensor2d(masking.targets, [batchSize, text.maxLength], 'int32');
      const selected = tf.tensor2d(masking.selected, [batchSize, text.maxLength]);
      let correct: tf.Scalar | undefined;
      const loss = optimizer.minimize(
        () => {
          const tokens = encoder.tokens(inputs, { training: true });
          const logits = tf.reshape(head.apply(tf.reshape(tokens, [-1, text.embedDim])) as Tensor2D, [
            batchSize,
            text.maxLength,
            tokenizer.vocabSize,
          ]) as Tensor3D;
          // Kept: minimize() frees what its closure made, and the accuracy is read after it.
          correct = tf.keep(tf.sum(tf.mul(tf.cast(tf.equal(tf.argMax(logits, 2), targets), 'float32'), selected)) as tf.Scalar);
          return maskedLanguageModelLoss(logits, targets, selected);
        },
        true,
        variables,
      )!;
      const accuracy = correct!.dataSync()[0] / Math.max(1, tf.sum(selected).dataSync()[0]);
      correct!.dispose();
      return { lossValue: loss.dataSync()[0], accuracy };
    });
    if (!Number.isFinite(lossValue))
      throw new SslError('non-finite-loss', `pretrainTextTower: the MLM loss is ${lossValue} at step ${step}; lower lr.`);
    losses.push(lossValue);
    window = { loss: window.loss + lossValue, accuracy: window.accuracy + accuracy, count: window.count + 1 };
    if (options.onLog && (window.count === (options.logEvery ?? 50) || step === steps - 1)) {
      options.onLog({ step: step + 1, loss: window.loss / window.count, accuracy: window.accuracy / window.count });
      window = { loss: 0, accuracy: 0, count: 0 };
    }
  }
  optimizer.dispose();
  // The MLM head is dropped, as BERT's is (a layer that was only built, never called symbolically, cannot dispose() itself).
  for (const weight of head.weights) weight.dispose();
  return { encoder, losses };
}

/** Sentences of a fortune file (`%`-separated entries): each entry's words joined, entries with ≥ 3 words. */
export function fortuneSentences(fileText: string): string[] {
  return fileText
    .split(/^%$/m)
    .flatMap((entry) => entry.split(/(?<=[.!?])\s+/))
    .map((sentence) => splitWords(sentence).join(' '))
    .filter((sentence) => sentence.split(' ').length >= 3);
}
