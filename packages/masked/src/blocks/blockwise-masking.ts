import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { Random, invalidConfig } from '@ssl/core';

export interface BlockwiseMaskingOptions {
  /** Smallest block, in patches (BEiT: 16 of 196 patches; 4 of a 7×7 grid keeps the proportion). */
  readonly minBlockPatches: number;
  /** Block aspect ratios are drawn log-uniformly in [minAspect, 1 / minAspect] (BEiT: 0.3). */
  readonly minAspect?: number;
}

/** Masked patches of a grid of L patches at ratio r: round(L · r) (BEiT: 75 of 196, ≈ 0.4). */
export function numBlockMaskedPatches(numPatches: number, maskRatio: number): number {
  return Math.round(numPatches * maskRatio);
}

/** Attempts at one block before the reference gives up (`for attempt in range(10)`). */
const BLOCK_ATTEMPTS = 10;
/** Consecutive failed blocks after which the remaining patches are topped up one by one. */
const FAILED_BLOCKS_BEFORE_TOP_UP = 10;

/**
 * One image's blockwise mask (BEiT, Bao et al. 2022, Algorithm 1; `MaskingGenerator` in the reference code):
 * repeatedly draw a block of s ∈ [minBlock, remaining] patches with aspect ratio r (log-uniform), a = √(s·r)
 * rows and b = √(s/r) columns at a random position, and keep it when it masks between 1 and `remaining` new
 * patches, until `count` patches are masked. Where the reference stops short when no block fits, the last
 * patches are added one at a time next to the mask (or anywhere when none is adjacent), so every image has
 * exactly `count` masked patches. Returns [rows · columns] in row-major patch order, 1 = masked.
 */
export function blockwiseMask(rows: number, columns: number, count: number, rng: Random, options: BlockwiseMaskingOptions): Uint8Array {
  const mask = new Uint8Array(rows * columns);
  const logAspect = Math.log(options.minAspect ?? 0.3);
  let masked = 0;
  let failures = 0;
  while (masked < count && failures < FAILED_BLOCKS_BEFORE_TOP_UP) {
    const remaining = count - masked;
    let added = 0;
    for (let attempt = 0; attempt < BLOCK_ATTEMPTS && added === 0; attempt++) {
      const area = rng.uniform(options.minBlockPatches, Math.max(options.minBlockPatches, remaining));
      const aspect = Math.exp(rng.uniform(logAspect, -logAspect));
      const height = Math.round(Math.sqrt(area * aspect));
      const width = Math.round(Math.sqrt(area / aspect));
      if (height < 1 || width < 1 || height >= rows || width >= columns) continue;
      const top = rng.int(rows - height + 1);
      const left = rng.int(columns - width + 1);
      let fresh = 0;
      for (let y = top; y < top + height; y++) for (let x = left; x < left + width; x++) fresh += 1 - mask[y * columns + x];
      if (fresh === 0 || fresh > remaining) continue;
      for (let y = top; y < top + height; y++) for (let x = left; x < left + width; x++) mask[y * columns + x] = 1;
      added = fresh;
    }
    masked += added;
    failures = added === 0 ? failures + 1 : 0;
  }
  while (masked < count) {
    const free: number[] = [];
    const adjacent: number[] = [];
    for (let i = 0; i < mask.length; i++) {
      if (mask[i] === 1) continue;
      free.push(i);
      const y = Math.floor(i / columns);
      const x = i % columns;
      if ((y > 0 && mask[i - columns]) || (y < rows - 1 && mask[i + columns]) || (x > 0 && mask[i - 1]) || (x < columns - 1 && mask[i + 1]))
        adjacent.push(i);
    }
    const pool = adjacent.length > 0 ? adjacent : free;
    mask[pool[rng.int(pool.length)]] = 1;
    masked++;
  }
  return mask;
}

/**
 * BEiT's blockwise masking of a batch: [N, rows · columns] float32, 1 = masked, exactly
 * `numBlockMaskedPatches(L, maskRatio)` masked patches per image, drawn from `rng` (a Random or a seed).
 */
export function blockwiseMasking(
  batchSize: number,
  gridSize: readonly [number, number],
  maskRatio: number,
  rng: Random | number,
  options: BlockwiseMaskingOptions,
): Tensor2D {
  const [rows, columns] = gridSize;
  const numPatches = rows * columns;
  if (!Number.isInteger(batchSize) || batchSize < 1) invalidConfig('batchSize', batchSize, 'an integer ≥ 1');
  if (typeof maskRatio !== 'number' || !(maskRatio > 0 && maskRatio < 1))
    invalidConfig('maskRatio', maskRatio, 'a number strictly between 0 and 1');
  if (!Number.isInteger(options.minBlockPatches) || options.minBlockPatches < 1)
    invalidConfig('minBlockPatches', options.minBlockPatches, 'an integer ≥ 1');
  const aspect = options.minAspect ?? 0.3;
  if (!(aspect > 0 && aspect <= 1)) invalidConfig('minAspect', aspect, 'a number in (0, 1]');
  const count = numBlockMaskedPatches(numPatches, maskRatio);
  if (count < 1 || count >= numPatches)
    invalidConfig('maskRatio', maskRatio, `a ratio that masks between 1 and ${numPatches - 1} of the ${numPatches} patches`);
  const random = typeof rng === 'number' ? new Random(rng) : rng;
  const values = new Float32Array(batchSize * numPatches);
  for (let n = 0; n < batchSize; n++) values.set(blockwiseMask(rows, columns, count, random, options), n * numPatches);
  return tf.tensor2d(values, [batchSize, numPatches]);
}
