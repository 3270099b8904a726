import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { defineMethod } from '../method';
import { createRegistry } from '../registry/registry';
import { definePlugin } from '../registry/plugin';
import { fortuneSentences, textCorpus, textData } from './text';
import type { TextBatch } from './text';
import { loadFortunesSample, loadTextFile } from './text-files';

describe("the 'text' data kind", () => {
  it('opens a corpus or the captions of image–caption pairs, and refuses images', () => {
    const source = textData.open(textCorpus(['one two three', '  ', 'four five six']), 'x:text');
    expect(source.sampleCount).toBe(2);
    expect(source.captions).toEqual(['one two three', 'four five six']);
    const made = source.batch({ ids: Int32Array.from([1, 0]) } as never) as unknown as { batch: TextBatch };
    expect(made.batch.texts).toEqual(['four five six', 'one two three']);
    expect(Array.from(made.batch.indices)).toEqual([1, 0]);
    const captions = textData.open({ name: 'pairs', captions: ['a b c'], images: new Uint8Array(0) }, 'x');
    expect(captions.captions).toEqual(['a b c']);
    expect(() => textData.open({ name: 'images', images: new Uint8Array(4), shape: [2, 2, 1], size: 1 }, 'x:text')).toThrow(/trains on text/);
    expect(() => textData.open(textCorpus([]), 'x:text')).toThrow(/empty/);
    expect(() => source.images(Int32Array.from([0]))).toThrow(/texts, not images/);
  });

  it('is one kind when two plugins register it; another definition of the name still conflicts', () => {
    const method = defineMethod({
      name: 'reader',
      description: 'reads',
      data: 'text',
      defaults: {},
      views: () => ({ unlabeled: 'none' }),
      build: () => {
        throw new Error('not built');
      },
    });
    const plugin = (name: string, kind = textData) =>
      definePlugin({ name, version: '0.0.0', family: name, core: '*', methods: { reader: method }, dataKinds: { text: kind } });
    const registry = createRegistry().use(plugin('first')).use(plugin('second'));
    expect(registry.create('first:reader').parts?.dataKinds.text).toBe(textData);
    expect(() => createRegistry().use(plugin('first')).use(plugin('third', { ...textData }))).toThrow(/dataKinds "text"/);
  });
});

describe('text corpora from files', () => {
  it('loads the bundled fortunes sample: 7156 training and 795 held-out sentences, no sentence in both', () => {
    const train = loadFortunesSample();
    const test = loadFortunesSample({ split: 'test' });
    expect(train.texts).toHaveLength(7156);
    expect(test.texts).toHaveLength(795);
    expect(train.name).toBe('fortunes-sample/train');
    const seen = new Set(train.texts);
    expect(test.texts.filter((sentence) => seen.has(sentence))).toEqual([]);
    expect(() => loadFortunesSample({ source: '/nonexistent' })).toThrow(/make-fortunes-sample/);
  });

  it('reads a text file, gzipped or not, one text a line, blank lines dropped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssl-text-'));
    try {
      writeFileSync(join(dir, 'a.txt'), 'first line\n\n  \nsecond line\n');
      writeFileSync(join(dir, 'b.txt.gz'), gzipSync('x y z\nu v w\n'));
      expect(loadTextFile(join(dir, 'a.txt'))).toEqual({ name: 'a.txt', texts: ['first line', 'second line'] });
      expect(loadTextFile(join(dir, 'b.txt.gz')).texts).toEqual(['x y z', 'u v w']);
      expect(() => loadTextFile(join(dir, 'missing.txt'))).toThrow(/cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('splits fortune files into lower-case sentences of at least 3 words', () => {
    const file = 'A stitch in time. Saves nine!\n%\nHe said: "Go now?" Yes.\n%\n';
    // 'Saves nine!' has 2 words; a quote after '?' keeps the sentence going (the split needs whitespace after the mark).
    expect(fortuneSentences(file)).toEqual(['a stitch in time', 'he said go now yes']);
  });
});
