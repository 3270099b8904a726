import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { Random, SslError, formatValue } from '@ssl/core';

export interface RandomMasking {
  /** [N, keep] int32: original indices of the kept patches, in shuffled order (MAE's ids_keep). */
  keepIndices: Tensor2D;
  /** [N, L] float32 in original patch order: 1 = removed (masked), 0 = kept. */
  mask: Tensor2D;
  /** [N, L] int32: position of each original patch in the shuffled order (MAE's ids_restore). */
  restoreIndices: Tensor2D;
}

/**
 * Number of visible patches: MAE's `len_keep = int(L * (1 - mask_ratio))`, i.e. the same float64
 * product truncated. (So L = 10, ratio 0.9 keeps 0 patches there, because 1 − 0.9 < 0.1 in float64; here
 * that case is rejected rather than returning an empty encoder input.)
 */
export function numKeptPatches(numPatches: number, maskRatio: number): number {
  return Math.floor(numPatches * (1 - maskRatio));
}

/**
 * MAE's per-sample random masking (He et al. 2022, Sec. 3; `random_masking` in the reference code):
 * each sample draws uniform noise over its L patches, sorts it (argsort, the shuffle), keeps the first
 * `keep = floor(L·(1 − maskRatio))` patches of the shuffle and masks the rest.
 *
 * `restoreIndices` undoes the shuffle: gathering the shuffled sequence with it returns original order,
 * which is how the decoder puts mask tokens back (`gatherTokens(shuffled, restoreIndices)`).
 *
 * Noise comes from `rng` (or `new Random(seed)`), so masks are reproducible and checkpointable.
 * The tensors are created outside any tidy; the caller disposes them.
 */
export function randomMasking(batchSize: number, numPatches: number, maskRatio: number, rng: Random | number): RandomMasking {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new SslError('invalid-config', `Invalid config value batchSize = ${formatValue(batchSize)}: expected an integer ≥ 1.`, {
      details: { field: 'batchSize', value: batchSize },
    });
  }
  if (!Number.isInteger(numPatches) || numPatches < 1) {
    throw new SslError('invalid-config', `Invalid config value numPatches = ${formatValue(numPatches)}: expected an integer ≥ 1.`, {
      details: { field: 'numPatches', value: numPatches },
    });
  }
  if (typeof maskRatio !== 'number' || !(maskRatio >= 0 && maskRatio < 1)) {
    throw new SslError(
      'invalid-config',
      `Invalid config value maskRatio = ${formatValue(maskRatio)}: expected a number in [0, 1) (MAE uses 0.75).`,
      {
        details: { field: 'maskRatio', value: maskRatio },
      },
    );
  }
  const keep = numKeptPatches(numPatches, maskRatio);
  if (keep < 1) {
    throw new SslError(
      'invalid-config',
      `maskRatio ${maskRatio} with ${numPatches} patches keeps floor(${numPatches}·(1 − ${maskRatio})) = ${keep} patches; ` +
        'the encoder needs at least one. Lower maskRatio or use more patches.',
      { details: { field: 'maskRatio', value: maskRatio, numPatches } },
    );
  }
  const random = typeof rng === 'number' ? new Random(rng) : rng;
  if (!(random instanceof Random)) {
    throw new SslError('invalid-config', 'rng must be a Random from @ssl/core or a numeric seed.', { details: { field: 'rng' } });
  }

  const keepIndices = new Int32Array(batchSize * keep);
  const mask = new Float32Array(batchSize * numPatches);
  const restoreIndices = new Int32Array(batchSize * numPatches);
  const noise = new Float64Array(numPatches);
  const shuffle = new Array<number>(numPatches);
  for (let sample = 0; sample < batchSize; sample++) {
    for (let patch = 0; patch < numPatches; patch++) {
      noise[patch] = random.next();
      shuffle[patch] = patch;
    }
    // ids_shuffle = argsort(noise): ascending noise, small is kept. Ties (vanishingly rare) keep index order.
    shuffle.sort((a, b) => noise[a] - noise[b] || a - b);
    for (let position = 0; position < numPatches; position++) {
      const patch = shuffle[position];
      // ids_restore = argsort(ids_shuffle), i.e. the inverse permutation.
      restoreIndices[sample * numPatches + patch] = position;
      mask[sample * numPatches + patch] = position < keep ? 0 : 1;
      if (position < keep) keepIndices[sample * keep + position] = patch;
    }
  }
  return {
    keepIndices: tf.tensor2d(keepIndices, [batchSize, keep], 'int32'),
    mask: tf.tensor2d(mask, [batchSize, numPatches], 'float32'),
    restoreIndices: tf.tensor2d(restoreIndices, [batchSize, numPatches], 'int32'),
  };
}
