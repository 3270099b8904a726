import { SslError, WordTokenizer, invalidConfig } from '@ssl/core';
import type { Random } from '@ssl/core';

/** The token BERT replaces a selected word with; `splitWords` never yields it, so no text collides with it. */
export const MASK_TOKEN = '<mask>';

/**
 * A word tokenizer for masked language modelling: core's four special tokens (<pad>, <unk>, <bos>, <eos>), then
 * `<mask>` (id 4), then the corpus's words by decreasing frequency (at most vocabLimit tokens in all).
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

export interface BertMaskingOptions {
  readonly maskId: number;
  readonly vocabSize: number;
  readonly rng: Random;
  /** Share of the word tokens selected (BERT: 0.15). */
  readonly rate?: number;
  /** Share of the selected tokens replaced by <mask> (BERT: 0.8) and by a random word (0.1); the rest stay unchanged. */
  readonly maskShare?: number;
  readonly randomShare?: number;
  /**
   * Ids never selected besides <mask> (default: <pad> 0, <unk> 1, <bos> 2, <eos> 3). <unk> is left out: a word
   * outside the vocabulary has no answer to predict, and on a small vocabulary it would be the most frequent target.
   */
  readonly specialIds?: readonly number[];
}

/**
 * BERT's masking (Devlin et al. 2019, sec. 3.1 "Task #1: Masked LM"): each word token (not <pad>, <unk>, <bos>, <eos>)
 * is selected with probability `rate` (15%); a selected token becomes <mask> 80% of the time, a random word
 * 10%, and stays unchanged 10%; the model is asked for the original token at every selected position.
 * (`maskShare: 1, randomShare: 0` masks every selected token: the held-out read-out, which must not show the answer.)
 */
export function bertMasking(ids: Int32Array, options: BertMaskingOptions): BertMasking {
  const rate = options.rate ?? 0.15;
  const maskShare = options.maskShare ?? 0.8;
  const randomShare = options.randomShare ?? 0.1;
  if (!(rate > 0 && rate < 1)) invalidConfig('rate', rate, 'a probability in (0, 1) (BERT: 0.15)');
  if (!(maskShare >= 0 && randomShare >= 0 && maskShare + randomShare <= 1))
    invalidConfig('maskShare', maskShare, 'shares with maskShare + randomShare ≤ 1 (BERT: 0.8 and 0.1)');
  const special = new Set(options.specialIds ?? [0, 1, 2, 3]);
  special.add(options.maskId);
  const firstWord = Math.max(...special) + 1;
  const { rng } = options;
  const inputs = Int32Array.from(ids);
  const selected = new Float32Array(ids.length);
  ids.forEach((id, at) => {
    if (special.has(id) || rng.next() >= rate) return;
    selected[at] = 1;
    const draw = rng.next();
    if (draw < maskShare) inputs[at] = options.maskId;
    else if (draw < maskShare + randomShare) inputs[at] = firstWord + rng.int(options.vocabSize - firstWord);
  });
  return { inputs, targets: Int32Array.from(ids), selected };
}
