import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Variable } from '@tensorflow/tfjs-core';
import { SslError, formatShape, l2Normalize, requirePositiveInteger, requireRank } from '@ssl/core';

/**
 * NPID's memory bank (Wu et al. 2018, sec. 3.2): one L2-normalised feature per training image, [sampleCount, D],
 * a `state` variable indexed by the batch's sample ids. Returned as a plain variable: checkpoints save it.
 *
 * `init: 'random'` fills it with random unit rows, as the reference code; `'zeros'` leaves every row empty
 * until its image is first seen: the proximal update then writes normalize(m·0 + (1 − m)·f) = f, and an
 * empty row scores 0 against every feature, so it neither attracts nor repels before it holds a feature.
 */
export function createMemoryBank(options: {
  readonly size: number;
  readonly dim: number;
  readonly seed: number;
  readonly init?: 'random' | 'zeros';
}): Variable {
  requirePositiveInteger('memory bank size (BuildContext.sampleCount)', options.size);
  requirePositiveInteger('memory bank dim', options.dim);
  const initial = tf.tidy(() =>
    options.init === 'zeros'
      ? tf.zeros([options.size, options.dim])
      : l2Normalize(tf.randomNormal([options.size, options.dim], 0, 1, 'float32', options.seed)),
  );
  const bank = tf.variable(initial, false);
  initial.dispose();
  return bank;
}

/**
 * The proximal update of NPID's bank (sec. 3.2 and the reference code's memory update): v_i ←
 * normalize(m·v_i + (1 − m)·f_i) for the rows of this batch, the others unchanged. Pure; `ids` are sample ids
 * (a batch's `indices`); a repeated id keeps its last row.
 */
export function updatedMemoryBank(bank: Tensor2D, ids: Int32Array, features: Tensor2D, momentum: number): Tensor2D {
  requireRank('bank', bank, 2, '[sampleCount, D]');
  requireRank('features', features, 2, '[N, D]');
  const [size, dim] = bank.shape;
  if (features.shape[1] !== dim || features.shape[0] !== ids.length) {
    throw new SslError(
      'shape-mismatch',
      `features ${formatShape(features.shape)} must be [${ids.length}, ${dim}]: one row of the bank's width per sample id.`,
    );
  }
  if (!(momentum >= 0 && momentum <= 1)) throw new SslError('invalid-config', `memory bank momentum must be in [0, 1], got ${momentum}.`);
  // Which row each bank row is taken from: itself, or (size + i) for the batch's i-th updated row.
  const source = new Int32Array(size);
  for (let row = 0; row < size; row++) source[row] = row;
  ids.forEach((id, i) => {
    if (!(id >= 0 && id < size)) throw new SslError('shape-mismatch', `sample id ${id} is outside the memory bank's ${size} rows.`);
    source[id] = size + i;
  });
  return tf.tidy(() => {
    const idTensor = tf.tensor1d(ids, 'int32');
    const updated = l2Normalize(tf.add(tf.mul(tf.gather(bank, idTensor), momentum), tf.mul(features, 1 - momentum)));
    return tf.gather(tf.concat([bank, updated], 0), tf.tensor1d(source, 'int32')) as Tensor2D;
  });
}
