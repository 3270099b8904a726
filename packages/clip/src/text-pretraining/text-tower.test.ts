import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PRODUCTS_DIR,
  PRODUCTS_INDEX,
  WordTokenizer,
  createEncoder,
  createRegistry,
  definePlugin,
  initBackend,
  loadFashionMnist,
  loadRun,
  saveEncoder,
  subset,
  train,
} from '@ssl/core';
import type { TextSpec } from '@ssl/core';
import { clipModelOf, clipWithTextTower, fashionMnistPairs, textTowerFromRun } from '../index';

const dirs: string[] = [];
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const TOWER = { embedDim: 16, depth: 1, numHeads: 2, maxLength: 16, mlpRatio: 2, vocabLimit: 300 };

/**
 * A run directory as `masked:mlm` writes it (config.json, encoder/ = the text tower, products/tokenizer.json), made
 * here without @ssl/masked, which @ssl/clip does not depend on: the directory is the interface between them.
 */
async function mlmRunDirectory(method: string, tokenizer: WordTokenizer, spec: TextSpec): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ssl-mlm-run-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ method, config: { text: TOWER, maskRate: 0.15 } }));
  const tower = createEncoder(spec);
  await saveEncoder(tower, join(dir, 'encoder'));
  tower.model.dispose();
  mkdirSync(join(dir, PRODUCTS_DIR));
  writeFileSync(join(dir, PRODUCTS_DIR, 'tokenizer.json'), JSON.stringify(tokenizer.toJSON()));
  writeFileSync(
    join(dir, PRODUCTS_DIR, PRODUCTS_INDEX),
    JSON.stringify({
      format: 'ssl-products',
      version: 1,
      method,
      step: 2,
      interrupted: false,
      products: { tokenizer: { kind: 'json', path: 'tokenizer.json' } },
    }),
  );
  return dir;
}

describe('CLIP from a masked:mlm run', () => {
  it("starts CLIP's text transformer from the run's tower and tokenizer, and refuses another run or a tower of another shape", async () => {
    const images = subset(
      await loadFashionMnist({ split: 'train', source: 'sample' }),
      Array.from({ length: 40 }, (_, i) => i),
    );
    const pairs = fashionMnistPairs(images, 0);
    const json = WordTokenizer.fromCorpus(pairs.captions, { maxLength: 16, vocabLimit: 299 }).toJSON();
    const vocabulary = [...json.vocabulary.slice(0, 4), '<mask>', ...json.vocabulary.slice(4)];
    const tokenizer = WordTokenizer.fromJSON({ ...json, vocabulary });
    const spec = (vocabSize: number): TextSpec => ({ kind: 'text', vocabSize, ...TOWER, causal: false, seed: 9 });
    const saved = await loadRun(await mlmRunDirectory('masked:mlm', tokenizer, spec(vocabulary.length)));
    const tower = textTowerFromRun(saved);
    expect(tower.text).toEqual({ ...TOWER, causal: false });
    expect(tower.tokenizer.toJSON().vocabulary).toEqual(vocabulary);

    const run = (towerToUse: typeof tower) =>
      train({
        method: createRegistry()
          .use(
            definePlugin({
              name: 'tower-test',
              version: '0.0.0',
              family: 'tower',
              core: '*',
              methods: { clip: clipWithTextTower(towerToUse) },
            }),
          )
          .create('tower:clip', { text: towerToUse.text, embedDim: 8 }),
        data: pairs,
        encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [4] },
        epochs: 1,
        batchSize: 20,
        seed: 0,
        optimizer: { lr: 1e-9 },
      });
    const result = await run(tower);
    const model = clipModelOf(result.runtime);
    expect(model.tokenizer).toBe(tower.tokenizer);
    // At lr 1e-9 two steps move no weight by more than ~1e-8: the text tower still holds the run's weights
    // (a fresh tower of this shape differs from them by ~0.02 per weight).
    const given = tower.encoder.model.getWeights().map((w) => w.dataSync());
    model.textEncoder.model.getWeights().forEach((w, i) => {
      const values = Array.from(w.dataSync());
      const largest = values.reduce((max, v, j) => Math.max(max, Math.abs(v - given[i][j])), 0);
      expect(largest).toBeLessThan(1e-6);
    });
    result.dispose();
    saved.dispose();

    // A tower whose vocabulary is not its tokenizer's: CLIP refuses it rather than mis-reading ids.
    const mismatched = await loadRun(await mlmRunDirectory('masked:mlm', tokenizer, spec(vocabulary.length + 1)));
    await expect(run(textTowerFromRun(mismatched))).rejects.toThrow(/does not have the shape/);
    mismatched.dispose();
    const other = await loadRun(await mlmRunDirectory('contrastive:word2vec', tokenizer, spec(vocabulary.length)));
    expect(() => textTowerFromRun(other)).toThrow(/masked:mlm run/);
    other.dispose();
  }, 120_000);
});
