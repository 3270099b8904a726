import type { Tensor } from '@tensorflow/tfjs-core';
import { SslError, formatShape, formatValue } from '@ssl/core';

/*
 * Package-private validation helpers shared by the losses (and blocks) of this package. Not exported from the package index.
 */

export function requireRank(name: string, tensor: Tensor, rank: number, layout: string): void {
  if (tensor.rank !== rank) {
    throw new SslError(
      'shape-mismatch',
      `${name} must be a rank-${rank} tensor ${layout}, got shape ${formatShape(tensor.shape)} (rank ${tensor.rank}). ` +
        `Reshape it to ${layout} before calling.`,
      { details: { name, shape: tensor.shape } },
    );
  }
}

export function requireSameShape(nameA: string, a: Tensor, nameB: string, b: Tensor, why: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((size, axis) => size !== b.shape[axis])) {
    throw new SslError(
      'shape-mismatch',
      `${nameA} ${formatShape(a.shape)} and ${nameB} ${formatShape(b.shape)} must have the same shape: ${why}.`,
      { details: { [nameA]: a.shape, [nameB]: b.shape } },
    );
  }
}

export function requireNonEmpty(name: string, tensor: Tensor): void {
  if (tensor.size === 0) {
    throw new SslError('shape-mismatch', `${name} is empty (shape ${formatShape(tensor.shape)}); pass at least one sample and one feature.`, {
      details: { name, shape: tensor.shape },
    });
  }
}

export function requireFloat(name: string, tensor: Tensor): void {
  if (tensor.dtype !== 'float32') {
    throw new SslError('dtype-mismatch', `${name} must be float32, got ${tensor.dtype}. Cast it with tf.cast(${name}, 'float32').`, {
      details: { name, dtype: tensor.dtype },
    });
  }
}

export function requirePositive(field: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new SslError('invalid-config', `Invalid config value ${field} = ${formatValue(value)}: expected a finite number > 0.`, {
      details: { field, value },
    });
  }
}
