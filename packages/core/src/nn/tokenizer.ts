import { SslError, invalidConfig } from '../errors';

/** Turns text into a fixed-length row of token ids for the text transformer. */
export interface Tokenizer {
  readonly vocabSize: number;
  readonly maxLength: number;
  /** Token ids padded / truncated to exactly maxLength. */
  encode(text: string): Int32Array;
  decode?(ids: ArrayLike<number>): string;
}

export const PAD_TOKEN = '<pad>';
export const UNKNOWN_TOKEN = '<unk>';
export const BEGIN_TOKEN = '<bos>';
export const END_TOKEN = '<eos>';
const SPECIAL_TOKENS = [PAD_TOKEN, UNKNOWN_TOKEN, BEGIN_TOKEN, END_TOKEN];

export interface WordTokenizerOptions {
  /** Length of every encoded row, including <bos> and <eos>. */
  maxLength: number;
  /** Largest vocabulary including the 4 special tokens; the most frequent words are kept. Default: all words. */
  vocabLimit?: number;
  /** Words seen fewer times are <unk>; default 1. */
  minCount?: number;
}

export interface WordTokenizerJSON {
  format: 'ssl-word-tokenizer';
  version: 1;
  maxLength: number;
  /** Token strings by id; ids 0-3 are <pad>, <unk>, <bos>, <eos>. */
  vocabulary: string[];
}

/** Lowercases and splits on anything that is not a letter (any script). */
export function splitWords(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}]+/u)
    .filter((word) => word.length > 0);
}

/**
 * Word-level tokenizer built from a corpus: ids 0-3 are <pad>, <unk>, <bos>, <eos>, then words by
 * decreasing frequency (ties alphabetically, so a corpus always gives the same vocabulary).
 * `encode` gives [<bos>, words..., <eos>, <pad>...]; when too long the words are cut and <eos> kept, so
 * the text transformer's last-token pooling always reads the <eos> position.
 */
export class WordTokenizer implements Tokenizer {
  readonly maxLength: number;
  readonly padId = 0;
  readonly unknownId = 1;
  readonly beginId = 2;
  readonly endId = 3;
  private readonly vocabulary: readonly string[];
  private readonly ids: ReadonlyMap<string, number>;

  private constructor(vocabulary: string[], maxLength: number) {
    if (!Number.isInteger(maxLength) || maxLength < 2) invalidConfig('maxLength', maxLength, 'an integer ≥ 2 (room for <bos> and <eos>)');
    SPECIAL_TOKENS.forEach((token, id) => {
      if (vocabulary[id] !== token) {
        throw new SslError(
          'invalid-config',
          `WordTokenizer vocabulary must start with ${SPECIAL_TOKENS.join(', ')}; entry ${id} is ${JSON.stringify(vocabulary[id])}.`,
        );
      }
    });
    this.vocabulary = vocabulary;
    this.maxLength = maxLength;
    this.ids = new Map(vocabulary.map((token, id) => [token, id]));
  }

  static fromCorpus(texts: Iterable<string>, options: WordTokenizerOptions): WordTokenizer {
    const { vocabLimit, minCount = 1 } = options;
    if (vocabLimit !== undefined && (!Number.isInteger(vocabLimit) || vocabLimit < SPECIAL_TOKENS.length + 1)) {
      invalidConfig('vocabLimit', vocabLimit, `an integer ≥ ${SPECIAL_TOKENS.length + 1} (4 special tokens and at least one word)`);
    }
    if (!Number.isInteger(minCount) || minCount < 1) invalidConfig('minCount', minCount, 'a positive integer');
    const counts = new Map<string, number>();
    for (const text of texts) for (const word of splitWords(text)) counts.set(word, (counts.get(word) ?? 0) + 1);
    const words = [...counts.entries()]
      .filter(([word, count]) => count >= minCount && !SPECIAL_TOKENS.includes(word))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([word]) => word);
    const kept = vocabLimit === undefined ? words : words.slice(0, vocabLimit - SPECIAL_TOKENS.length);
    return new WordTokenizer([...SPECIAL_TOKENS, ...kept], options.maxLength);
  }

  static fromJSON(json: WordTokenizerJSON | string): WordTokenizer {
    const parsed: unknown = typeof json === 'string' ? JSON.parse(json) : json;
    const value = parsed as Partial<WordTokenizerJSON>;
    if (value === null || typeof value !== 'object' || value.format !== 'ssl-word-tokenizer' || !Array.isArray(value.vocabulary)) {
      throw new SslError('io', 'Not a WordTokenizer JSON: expected { format: "ssl-word-tokenizer", version: 1, maxLength, vocabulary }.');
    }
    return new WordTokenizer([...value.vocabulary], value.maxLength as number);
  }

  get vocabSize(): number {
    return this.vocabulary.length;
  }

  encode(text: string): Int32Array {
    const out = new Int32Array(this.maxLength); // zero-filled = <pad>
    const words = splitWords(text).slice(0, this.maxLength - 2);
    out[0] = this.beginId;
    words.forEach((word, i) => {
      out[i + 1] = this.ids.get(word) ?? this.unknownId;
    });
    out[words.length + 1] = this.endId;
    return out;
  }

  /** Words joined by spaces; special tokens other than <unk> are left out. */
  decode(ids: ArrayLike<number>): string {
    const words: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === this.padId || id === this.beginId || id === this.endId) continue;
      words.push(this.vocabulary[id] ?? UNKNOWN_TOKEN);
    }
    return words.join(' ');
  }

  /** Encodes many texts into one row-major buffer [texts.length × maxLength] (e.g. for tf.tensor2d). */
  encodeBatch(texts: readonly string[]): Int32Array {
    const out = new Int32Array(texts.length * this.maxLength);
    texts.forEach((text, i) => out.set(this.encode(text), i * this.maxLength));
    return out;
  }

  toJSON(): WordTokenizerJSON {
    return { format: 'ssl-word-tokenizer', version: 1, maxLength: this.maxLength, vocabulary: [...this.vocabulary] };
  }
}
