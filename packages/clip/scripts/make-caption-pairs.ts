/**
 * Writes Fashion-MNIST images with synthetic captions (`fashionMnistPairs`: a template, one of the class's names,
 * two of its attributes) as image–caption pairs in the layout `ssl pretrain clip:clip --data <pairs.jsonl>` reads:
 * `images/<nnnnn>.png` beside `pairs.jsonl` (one {"image", "caption"} per line). The full-data queue trains
 * `clip:clip` on the training split this way, so CLIP sits in the cross-method table with every other method.
 *
 *   node --conditions=@ssl/source --import tsx packages/clip/scripts/make-caption-pairs.ts --out <dir>
 *     [--source full|sample] [--seed 0]
 *
 * Does nothing when <dir>/pairs.jsonl exists (written last, so a complete folder is the only kind it skips).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadFashionMnist } from '@ssl/core';
import { greyImage, imageGridPng } from '@ssl/eval';
import { fashionMnistPairs } from '@ssl/clip';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    source: { type: 'string', default: 'full' },
    seed: { type: 'string', default: '0' },
  },
});
if (!values.out) throw new Error('make-caption-pairs: pass --out <folder>.');
if (values.source !== 'full' && values.source !== 'sample') throw new Error('make-caption-pairs: --source is full or sample.');
const pairsFile = join(values.out, 'pairs.jsonl');
if (existsSync(pairsFile)) {
  console.log(`${pairsFile} exists; nothing to do.`);
} else {
  const images = await loadFashionMnist({ split: 'train', source: values.source });
  const pairs = fashionMnistPairs(images, Number(values.seed));
  mkdirSync(join(values.out, 'images'), { recursive: true });
  const pixels = 28 * 28;
  const lines: string[] = [];
  for (let id = 0; id < images.size; id++) {
    const name = `images/${String(id).padStart(5, '0')}.png`;
    const grey = Float32Array.from(images.images.subarray(id * pixels, (id + 1) * pixels), (value) => value / 255);
    writeFileSync(join(values.out, name), imageGridPng([[greyImage(grey, 28, 28)]], { scale: 1, gap: 0 }));
    lines.push(JSON.stringify({ image: name, caption: pairs.captions[id] }));
  }
  writeFileSync(pairsFile, `${lines.join('\n')}\n`);
  console.log(`${images.size} pairs in ${values.out}`);
}
