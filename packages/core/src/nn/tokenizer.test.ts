import { describe, expect, it } from 'vitest';

import { isSslError } from '../errors';
import { WordTokenizer, splitWords } from './tokenizer';

const corpus = ['A photo of a cat.', 'A photo of a dog!', 'a cat, a dog and a bird', "Crème brûlée isn't a dog"];

describe('WordTokenizer', () => {
  it('lowercases and splits on non-letters (any script)', () => {
    expect(splitWords("Crème brûlée isn't 42 DOGS")).toEqual(['crème', 'brûlée', 'isn', 't', 'dogs']);
  });

  it('builds a frequency-ordered vocabulary after the 4 special tokens, deterministic on ties', () => {
    const tokenizer = WordTokenizer.fromCorpus(corpus, { maxLength: 8 });
    const vocabulary = tokenizer.toJSON().vocabulary;
    expect(vocabulary.slice(0, 4)).toEqual(['<pad>', '<unk>', '<bos>', '<eos>']);
    // a: 8, dog: 3, cat: 2, of: 2, photo: 2 (ties alphabetical), then the singletons alphabetically.
    expect(vocabulary.slice(4, 9)).toEqual(['a', 'dog', 'cat', 'of', 'photo']);
    expect(tokenizer.vocabSize).toBe(vocabulary.length);
    const limited = WordTokenizer.fromCorpus(corpus, { maxLength: 8, vocabLimit: 6 });
    expect(limited.vocabSize).toBe(6);
    expect(Array.from(limited.encode('a cat'))).toEqual([2, 4, 1, 3, 0, 0, 0, 0]);
  });

  it('encodes to exactly maxLength with <bos>/<eos>, <unk> and padding; truncation keeps <eos>', () => {
    const tokenizer = WordTokenizer.fromCorpus(corpus, { maxLength: 6 });
    const dog = 5;
    const ids = tokenizer.encode('A dog, a zebra');
    expect(ids).toBeInstanceOf(Int32Array);
    expect(Array.from(ids)).toEqual([2, 4, dog, 4, 1, 3]);
    expect(Array.from(tokenizer.encode('dog'))).toEqual([2, dog, 3, 0, 0, 0]);
    const long = tokenizer.encode('a dog a dog a dog a dog');
    expect(long.length).toBe(6);
    expect(long[5]).toBe(3);
    expect(tokenizer.decode(tokenizer.encode('a photo of a cat'))).toBe('a photo of a');
    expect(tokenizer.decode(tokenizer.encode('zebra dog'))).toBe('<unk> dog');
    expect(Array.from(tokenizer.encodeBatch(['dog', 'a']))).toEqual([2, dog, 3, 0, 0, 0, 2, 4, 3, 0, 0, 0]);
  });

  it('round-trips through JSON and rejects other JSON', () => {
    const tokenizer = WordTokenizer.fromCorpus(corpus, { maxLength: 10, minCount: 2 });
    expect(tokenizer.toJSON().vocabulary).not.toContain('bird');
    const restored = WordTokenizer.fromJSON(JSON.stringify(tokenizer));
    expect(restored.toJSON()).toEqual(tokenizer.toJSON());
    expect(Array.from(restored.encode('a bird and a cat'))).toEqual(Array.from(tokenizer.encode('a bird and a cat')));
    let caught: unknown;
    try {
      WordTokenizer.fromJSON('{"vocabulary": []}');
    } catch (error) {
      caught = error;
    }
    expect(isSslError(caught, 'io')).toBe(true);
    expect(() => WordTokenizer.fromCorpus(corpus, { maxLength: 1 })).toThrow(/maxLength/);
    expect(() => WordTokenizer.fromCorpus(corpus, { maxLength: 8, vocabLimit: 4 })).toThrow(/vocabLimit/);
  });
});
