import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D, Tensor3D } from '@tensorflow/tfjs-core';
import { Random, SslError, createEncoder, defineMethod, invalidConfig, isTextCorpus, textTowerSpec, tfl } from '@ssl/core';
import type { HeldOutFigure, MethodRuntime, TextTowerSize, TextTransformerEncoder, WordTokenizer } from '@ssl/core';
import { bertMasking, maskIdOf, mlmTokenizer } from '../blocks/bert-masking';
import { maskedTokenLoss } from '../losses/masked-token-loss';

/**
 * BERT's masked language modelling (Devlin et al. 2019): 15% of the word tokens of a text are selected, the model
 * sees them as <mask> (80%), a random word (10%) or unchanged (10%), and predicts the original token at each
 * selected position from both sides. The text tower has the shape of @ssl/clip's (`ClipConfig.text`: embedding,
 * learned positions, pre-norm transformer blocks) with bidirectional attention, so a trained tower starts CLIP
 * (`textTowerFromRun` of @ssl/clip).
 */
export interface MlmConfig {
  /** The text tower, as @ssl/clip's `text` config (attention is always bidirectional here: BERT reads <mask> from both sides). */
  text: TextTowerSize & {
    /** At most this many tokens: 4 special ones, <mask>, then the corpus's most frequent words. */
    vocabLimit: number;
  };
  /** Share of the word tokens selected for prediction (BERT: 0.15). */
  maskRate: number;
}

export const MLM_DEFAULTS: MlmConfig = Object.freeze({
  text: Object.freeze({ embedDim: 64, depth: 2, numHeads: 4, maxLength: 16, mlpRatio: 2, vocabLimit: 2000 }),
  maskRate: 0.15,
}) as MlmConfig;

declare module '@ssl/core' {
  interface MethodConfigs {
    'masked:mlm': MlmConfig;
  }
}

export interface MlmParts {
  /** The text tower: `features` of token ids [N, L] is the representation (EOS pooling, as CLIP's). */
  readonly encoder: TextTransformerEncoder;
  /** The MLM head: a token's output (embedDim) → logits over the vocabulary. Dropped after pretraining, as BERT's. */
  readonly head: tfl.LayersModel;
  readonly tokenizer: WordTokenizer;
  readonly maskId: number;
}

export interface MlmRuntime extends MethodRuntime<'text'>, MlmParts {
  readonly encoder: TextTransformerEncoder;
}

function positiveInteger(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) invalidConfig(field, value, 'a positive integer');
}

export function validateMlmConfig(config: MlmConfig): void {
  const text = config.text;
  if (typeof text !== 'object' || text === null)
    invalidConfig('text', text, 'an object { embedDim, depth, numHeads, maxLength, mlpRatio, vocabLimit }');
  positiveInteger('text.embedDim', text.embedDim);
  positiveInteger('text.depth', text.depth);
  positiveInteger('text.numHeads', text.numHeads);
  if (text.embedDim % text.numHeads !== 0) invalidConfig('text.numHeads', text.numHeads, `a divisor of text.embedDim = ${text.embedDim}`);
  if (!(Number.isInteger(text.maxLength) && text.maxLength >= 3))
    invalidConfig('text.maxLength', text.maxLength, 'an integer ≥ 3 (<bos>, a word, <eos>)');
  if (typeof text.mlpRatio !== 'number' || !(text.mlpRatio > 0) || !Number.isInteger(text.mlpRatio * text.embedDim))
    invalidConfig('text.mlpRatio', text.mlpRatio, 'a positive number with mlpRatio * text.embedDim an integer');
  if (!(Number.isInteger(text.vocabLimit) && text.vocabLimit >= 6))
    invalidConfig('text.vocabLimit', text.vocabLimit, 'an integer ≥ 6 (4 special tokens, <mask> and a word)');
  if (typeof config.maskRate !== 'number' || !(config.maskRate > 0 && config.maskRate < 1))
    invalidConfig('maskRate', config.maskRate, 'a probability in (0, 1) (BERT: 0.15)');
}

/** Token ids [N, maxLength] of texts (<bos> words <eos> <pad>...). */
function tokenIds(tokenizer: WordTokenizer, texts: readonly string[]): Int32Array {
  return tokenizer.encodeBatch(texts);
}

/** The head's logits over the vocabulary at every position [N, L, V]. */
export function mlmForward(parts: Pick<MlmParts, 'encoder' | 'head'>, inputs: Tensor2D, training = false): Tensor3D {
  return tf.tidy(() => {
    const tokens = parts.encoder.tokens(inputs, { training });
    const [rows, length, width] = tokens.shape;
    const logits = parts.head.apply(tf.reshape(tokens, [rows * length, width]), { training }) as Tensor2D;
    return tf.reshape(logits, [rows, length, -1]) as Tensor3D;
  });
}

/** One batch's masked-LM loss (BERT's −log p of the original token at the selected positions) and accuracy there. */
export function mlmBatchLoss(
  parts: MlmParts,
  texts: readonly string[],
  options: { rng: Random; maskRate?: number; training?: boolean },
): { loss: Scalar; accuracy: Scalar } {
  const length = parts.tokenizer.maxLength;
  const masking = bertMasking(tokenIds(parts.tokenizer, texts), {
    maskId: parts.maskId,
    vocabSize: parts.tokenizer.vocabSize,
    rng: options.rng,
    rate: options.maskRate ?? 0.15,
  });
  return tf.tidy(() => {
    const inputs = tf.tensor2d(masking.inputs, [texts.length, length], 'int32');
    const targets = tf.tensor2d(masking.targets, [texts.length, length], 'int32');
    const selected = tf.tensor2d(masking.selected, [texts.length, length]);
    const logits = mlmForward(parts, inputs, options.training ?? false);
    const hits = tf.mul(tf.cast(tf.equal(tf.argMax(logits, 2), targets), 'float32'), selected);
    return {
      loss: maskedTokenLoss(logits, targets, selected),
      accuracy: tf.div(tf.sum(hits), tf.maximum(tf.sum(selected), 1)) as Scalar,
    };
  });
}

/** Masked-token figures on held-out texts beside the unigram-frequency guess. */
export interface MlmHeldOutScore {
  readonly accuracy: number;
  readonly crossEntropy: number;
  /** Always answering the most frequent word among the held-out targets: the best accuracy without context. */
  readonly unigramAccuracy: number;
  /** The entropy of the held-out targets' word frequencies: the best cross-entropy without context. */
  readonly unigramCrossEntropy: number;
  /** Masked positions scored. */
  readonly positions: number;
}

/**
 * The masked-token task on texts the run did not train on: `maskRate` of the word tokens of each text (seeded) are
 * all replaced by <mask> (no random or kept tokens: the input never shows the answer), and the tower predicts them.
 * The reference is the unigram guess fitted on the very targets it is scored on (the most frequent of them for
 * accuracy, their frequencies for cross-entropy), so no guess that ignores the context does better.
 */
export function mlmHeldOutScore(
  parts: MlmParts,
  texts: readonly string[],
  options: { seed: number; maskRate?: number; batchSize?: number },
): MlmHeldOutScore {
  if (texts.length === 0) throw new SslError('data', 'masked:mlm held-out task: no held-out texts.');
  const { tokenizer } = parts;
  const length = tokenizer.maxLength;
  const rng = new Random(options.seed);
  const batchSize = options.batchSize ?? 256;
  const counts = new Map<number, number>();
  let positions = 0;
  let hits = 0;
  let negativeLogLikelihood = 0;
  for (let start = 0; start < texts.length; start += batchSize) {
    const rows = texts.slice(start, start + batchSize);
    const masking = bertMasking(tokenIds(tokenizer, rows), {
      maskId: parts.maskId,
      vocabSize: tokenizer.vocabSize,
      rng,
      rate: options.maskRate ?? 0.15,
      maskShare: 1,
      randomShare: 0,
    });
    const [predicted, logProbabilities] = tf.tidy(() => {
      const logits = mlmForward(parts, tf.tensor2d(masking.inputs, [rows.length, length], 'int32'));
      const targets = tf.oneHot(tf.tensor2d(masking.targets, [rows.length, length], 'int32'), tokenizer.vocabSize);
      return [tf.argMax(logits, 2).dataSync(), tf.sum(tf.mul(tf.logSoftmax(logits, 2), targets), 2).dataSync()];
    });
    masking.selected.forEach((chosen, at) => {
      if (chosen === 0) return;
      const target = masking.targets[at];
      positions++;
      if (predicted[at] === target) hits++;
      negativeLogLikelihood -= logProbabilities[at];
      counts.set(target, (counts.get(target) ?? 0) + 1);
    });
  }
  if (positions === 0) throw new SslError('data', 'masked:mlm held-out task: no word was masked; give longer or more texts.');
  let entropy = 0;
  for (const count of counts.values()) entropy -= (count / positions) * Math.log(count / positions);
  return {
    accuracy: hits / positions,
    crossEntropy: negativeLogLikelihood / positions,
    unigramAccuracy: Math.max(...counts.values()) / positions,
    unigramCrossEntropy: entropy,
    positions,
  };
}

function heldOutTexts(heldOut: unknown): readonly string[] {
  if (isTextCorpus(heldOut)) return heldOut.texts;
  if (Array.isArray(heldOut) && heldOut.every((text) => typeof text === 'string')) return heldOut as string[];
  throw new SslError(
    'data',
    'masked:mlm held-out task: pass held-out texts ({ name, texts } or string[]), e.g. loadFortunesSample({ split: "test" }).',
  );
}

/** The held-out figures a masked:mlm run reports (`runtime.heldOutTask`). */
export function mlmHeldOutTask(parts: MlmParts, heldOut: unknown, options: { seed: number; maskRate?: number }): HeldOutFigure[] {
  const score = mlmHeldOutScore(parts, heldOutTexts(heldOut), options);
  const reference = 'the unigram guess (held-out target frequencies)';
  return [
    {
      name: 'masked-token accuracy',
      kind: 'accuracy',
      value: score.accuracy,
      reference: { name: reference, value: score.unigramAccuracy },
    },
    {
      name: 'masked-token cross-entropy (nats)',
      kind: 'error',
      value: score.crossEntropy,
      reference: { name: reference, value: score.unigramCrossEntropy },
    },
  ];
}

export const mlm = defineMethod<MlmConfig, 'text'>({
  name: 'mlm',
  description: "Masked language modelling: a bidirectional text transformer predicts 15% of a text's words from the rest (BERT).",
  paper: {
    title: 'BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding',
    authors: 'Devlin, Chang, Lee, Toutanova',
    year: 2019,
    url: 'https://arxiv.org/abs/1810.04805',
  },
  data: 'text',
  defaults: MLM_DEFAULTS,
  validate: validateMlmConfig,
  // Texts have no image views.
  views: () => ({ unlabeled: 'none' }),
  training: {
    // BERT: Adam (β2 0.999, ε 1e-6), warmup then linear decay; β2 0.98 as RoBERTa for stability with small
    // batches. Core has no linear decay: warmup-cosine to 0 is the nearest schedule.
    optimizer: { kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.98, epsilon: 1e-6 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
    batchSize: 64,
    epochs: 2,
  },
  build({ config, captions, rng }): MlmRuntime {
    if (!captions || captions.length === 0) throw new SslError('data', "masked:mlm needs a text corpus (the 'text' data kind).");
    const { text } = config;
    const tokenizer = mlmTokenizer(captions, { maxLength: text.maxLength, vocabLimit: text.vocabLimit });
    // The tower of @ssl/clip's text config, bidirectional: same layers and weight shapes, so CLIP can start from it.
    const encoder = createEncoder(textTowerSpec(text, tokenizer, { causal: false, seed: rng.seed() })) as TextTransformerEncoder;
    const head = tfl.sequential({
      name: 'mlm_head',
      layers: [
        tfl.layers.dense({
          inputShape: [text.embedDim],
          units: tokenizer.vocabSize,
          kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.seed() }),
        }),
      ],
    });
    const parts: MlmParts = { encoder, head, tokenizer, maskId: maskIdOf(tokenizer) };
    return {
      ...parts,
      trainable: { encoder: encoder.model, head },
      // The run's encoder/ is the tower; its tokenizer (with <mask>) is what CLIP needs besides it.
      products: () => ({ tokenizer: { json: { ...tokenizer.toJSON() } }, head }),
      heldOutTask: async (heldOut, options) => mlmHeldOutTask(parts, heldOut, { ...options, maskRate: config.maskRate }),
      step(batch, context) {
        const { loss, accuracy } = mlmBatchLoss(parts, batch.texts, { rng: context.rng, maskRate: config.maskRate, training: true });
        return { loss, metrics: { maskedAccuracy: accuracy } };
      },
    };
  },
});

/** The parts of a `masked:mlm` run (`train(...).runtime`): tower, head, tokenizer. */
export function mlmPartsOf(runtime: MethodRuntime): MlmParts {
  const parts = runtime as Partial<MlmRuntime>;
  if (!parts.head || !parts.tokenizer || parts.maskId === undefined)
    throw new SslError('invalid-config', 'Expected the runtime of a masked:mlm run (train(...).runtime).');
  return parts as MlmParts;
}
