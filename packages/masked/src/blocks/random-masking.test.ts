import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { numKeptPatches, randomMasking } from './random-masking';
import { gatherTokens } from './gather-tokens';
import { Random, expectSslError, useCpuBackend } from '@ssl/test-utils';

function read(masking: ReturnType<typeof randomMasking>) {
  const result = {
    keep: Array.from(masking.keepIndices.dataSync()),
    keepShape: masking.keepIndices.shape,
    keepDtype: masking.keepIndices.dtype,
    mask: Array.from(masking.mask.dataSync()),
    maskShape: masking.mask.shape,
    maskDtype: masking.mask.dtype,
    restore: Array.from(masking.restoreIndices.dataSync()),
    restoreDtype: masking.restoreIndices.dtype,
  };
  tf.dispose([masking.keepIndices, masking.mask, masking.restoreIndices]);
  return result;
}

describe('randomMasking', () => {
  beforeAll(useCpuBackend);

  it("keeps floor(L·(1 − ratio)) patches, truncating exactly like MAE's int()", () => {
    expect(numKeptPatches(196, 0.75)).toBe(49);
    expect(numKeptPatches(7, 0.5)).toBe(3);
    expect(numKeptPatches(10, 0.7)).toBe(3); // 10·0.30000000000000004
    expect(numKeptPatches(10, 0.9)).toBe(0); // 10·0.09999999999999998, as Python's int()
    expect(numKeptPatches(16, 0)).toBe(16);
  });

  it('keeps exactly the requested number of patches in every sample, with matching mask and dtypes', () => {
    for (const [numPatches, ratio] of [
      [16, 0.75],
      [7, 0.5],
      [10, 0.7],
      [5, 0],
    ] as const) {
      const batch = 3;
      const keep = numKeptPatches(numPatches, ratio);
      const result = read(randomMasking(batch, numPatches, ratio, 42));
      expect(result.keepShape).toEqual([batch, keep]);
      expect(result.maskShape).toEqual([batch, numPatches]);
      expect([result.keepDtype, result.maskDtype, result.restoreDtype]).toEqual(['int32', 'float32', 'int32']);
      for (let n = 0; n < batch; n++) {
        const maskRow = result.mask.slice(n * numPatches, (n + 1) * numPatches);
        const keptRow = result.keep.slice(n * keep, (n + 1) * keep);
        expect(maskRow.filter((m) => m === 0).length).toBe(keep);
        expect(maskRow.filter((m) => m === 1).length).toBe(numPatches - keep);
        expect(new Set(keptRow).size).toBe(keep);
        for (const patch of keptRow) expect(maskRow[patch]).toBe(0);
      }
    }
  });

  it('returns restore indices that invert the shuffle (restore ∘ shuffle = identity)', () => {
    const [batch, numPatches, ratio] = [4, 9, 0.6];
    const keep = numKeptPatches(numPatches, ratio);
    const { keep: kept, mask, restore } = read(randomMasking(batch, numPatches, ratio, 7));
    for (let n = 0; n < batch; n++) {
      const restoreRow = restore.slice(n * numPatches, (n + 1) * numPatches);
      expect([...restoreRow].sort((a, b) => a - b)).toEqual([...Array(numPatches).keys()]);
      // The shuffle is argsort(restore); its first `keep` entries are the kept patches.
      const shuffle = [...Array(numPatches).keys()].sort((a, b) => restoreRow[a] - restoreRow[b]);
      expect(shuffle.slice(0, keep)).toEqual(kept.slice(n * keep, (n + 1) * keep));
      for (let patch = 0; patch < numPatches; patch++) {
        expect(shuffle[restoreRow[patch]]).toBe(patch);
        expect(mask[n * numPatches + patch]).toBe(restoreRow[patch] < keep ? 0 : 1);
      }
    }
  });

  it('puts visible tokens back in place through the MAE decoder path (gather keep, append mask tokens, gather restore)', () => {
    const [batch, numPatches, width, ratio] = [3, 8, 2, 0.5];
    const keep = numKeptPatches(numPatches, ratio);
    const masking = randomMasking(batch, numPatches, ratio, 3);
    const [restored, original, mask] = tf.tidy(() => {
      const tokens = tf.add(tf.reshape(tf.range(0, batch * numPatches * width), [batch, numPatches, width]), 1) as tf.Tensor3D;
      const visible = gatherTokens(tokens, masking.keepIndices);
      const withMaskTokens = tf.concat([visible, tf.zeros([batch, numPatches - keep, width])], 1) as tf.Tensor3D;
      return [gatherTokens(withMaskTokens, masking.restoreIndices).dataSync(), tokens.dataSync(), masking.mask.dataSync()];
    });
    for (let n = 0; n < batch; n++)
      for (let patch = 0; patch < numPatches; patch++)
        for (let c = 0; c < width; c++) {
          const index = (n * numPatches + patch) * width + c;
          expect(restored[index]).toBe(mask[n * numPatches + patch] === 1 ? 0 : original[index]);
        }
    tf.dispose([masking.keepIndices, masking.mask, masking.restoreIndices]);
  });

  it('is reproducible from a seed, differs across samples and seeds, and advances a Random', () => {
    const first = read(randomMasking(4, 16, 0.75, 123));
    expect(read(randomMasking(4, 16, 0.75, 123))).toEqual(first);
    expect(read(randomMasking(4, 16, 0.75, 124)).mask).not.toEqual(first.mask);
    const rows = [0, 1, 2, 3].map((n) => first.mask.slice(n * 16, (n + 1) * 16).join(''));
    expect(new Set(rows).size).toBeGreaterThan(1);
    const rng = new Random(5);
    const a = read(randomMasking(1, 16, 0.5, rng));
    const b = read(randomMasking(1, 16, 0.5, rng));
    expect(b.mask).not.toEqual(a.mask);
  });

  it('masks every patch with frequency close to the ratio', () => {
    const [batch, numPatches, ratio] = [2000, 8, 0.5];
    const { mask } = read(randomMasking(batch, numPatches, ratio, 99));
    for (let patch = 0; patch < numPatches; patch++) {
      let masked = 0;
      for (let n = 0; n < batch; n++) masked += mask[n * numPatches + patch];
      // Binomial-like count with mean 1000 and sd ≈ 22; 5 sd leaves room without hiding a bias.
      expect(Math.abs(masked - batch * ratio)).toBeLessThan(110);
    }
  });

  it('creates exactly its three result tensors', () => {
    const before = tf.memory().numTensors;
    const masking = randomMasking(2, 4, 0.5, 1);
    expect(tf.memory().numTensors).toBe(before + 3);
    tf.dispose([masking.keepIndices, masking.mask, masking.restoreIndices]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad sizes, ratios and generators with SslError', () => {
    for (const ratio of [1, -0.1, Number.NaN, 1.5]) expectSslError(() => randomMasking(2, 16, ratio, 0), 'invalid-config');
    expect(expectSslError(() => randomMasking(2, 10, 0.9, 0), 'invalid-config')).toContain('0 patches');
    expectSslError(() => randomMasking(0, 16, 0.5, 0), 'invalid-config');
    expectSslError(() => randomMasking(2, 1.5, 0.5, 0), 'invalid-config');
    expectSslError(() => randomMasking(2, 16, 0.5, {} as unknown as Random), 'invalid-config');
  });
});
