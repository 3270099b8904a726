import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { isSslError } from '../../errors';
import { makeShards } from './make-shards';
import { buildSampleIndex } from './sample-index';
import { listTarMembers } from './tar';

const tmp = mkdtempSync(join(tmpdir(), 'ssl-shards-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function png(n: number): Buffer {
  const image = new pngjs.PNG({ width: 4, height: 4 });
  for (let p = 0; p < 16; p++) image.data.set([n, 2 * n, 3 * n, 255], 4 * p);
  return pngjs.PNG.sync.write(image);
}

describe('makeShards', () => {
  const folder = join(tmp, 'folder');
  for (const [c, name] of ['ants', 'bees', 'wasps'].entries()) {
    mkdirSync(join(folder, name), { recursive: true });
    for (let i = 0; i < 7; i++) writeFileSync(join(folder, name, `${i}.png`), png(10 * c + i));
  }
  writeFileSync(join(folder, 'bees', 'fake.jpg'), 'not really a jpeg');

  it('writes shards of shardSize samples whose bytes, classes and names a stream index reads back', () => {
    const out = join(tmp, 'out');
    const result = makeShards(folder, { out, shardSize: 8, seed: 1 });
    expect(result.samples).toBe(21);
    expect(result.shards.map((s) => s.slice(out.length + 1))).toEqual(['000000.tar', '000001.tar', '000002.tar']);
    expect(result.skipped).toEqual([join(folder, 'bees', 'fake.jpg')]);
    expect(listTarMembers(result.shards[2]).length).toBe(2 * 5); // 5 samples × (png + cls)
    const index = buildSampleIndex(out, { cache: false });
    expect(index.keys).toHaveLength(21);
    expect(index.classNames).toEqual(['ants', 'bees', 'wasps']);
    // Each sample's bytes are its source file's, under its own class: decode the colour back to (class, i).
    const seen = new Set<number>();
    for (let id = 0; id < 21; id++) {
      const shard = readFileSync(join(out, index.files[index.file[id]]));
      const bytes = shard.subarray(index.offset[id], index.offset[id] + index.length[id]);
      const red = pngjs.PNG.sync.read(Buffer.from(bytes)).data[0];
      expect(Math.floor(red / 10)).toBe(index.labels![id]);
      seen.add(red);
    }
    expect(seen.size).toBe(21);
    // Shuffled before sharding: the first shard holds more than one class.
    expect(new Set(Array.from(index.labels!.subarray(0, 8))).size).toBeGreaterThan(1);
    expect(() => makeShards(folder, { out, shardSize: 8 })).toThrow(/already holds .tar shards/);
  });

  it('writes captions from an image–caption JSONL', () => {
    const pairs = join(tmp, 'pairs.jsonl');
    writeFileSync(pairs, ['{"image": "folder/ants/0.png", "caption": "an ant"}', '{"image": "folder/bees/1.png", "caption": "a bee"}'].join('\n'));
    const out = join(tmp, 'pairs-out');
    expect(makeShards(pairs, { out, shardSize: 10, shuffle: false }).samples).toBe(2);
    const index = buildSampleIndex(out, { cache: false });
    expect(index.captions).toEqual(['an ant', 'a bee']);
    expect(index.labels).toBeUndefined();
  });

  it('refuses a bad shard size and a source with no image', () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'x.png'), 'no');
    const failure = (() => {
      try {
        makeShards(empty, { out: join(tmp, 'empty-out') });
      } catch (error) {
        return error;
      }
    })();
    expect(isSslError(failure, 'data')).toBe(true);
    expect(() => makeShards(folder, { out: join(tmp, 'x'), shardSize: 0 })).toThrow(/shardSize/);
  });
});
