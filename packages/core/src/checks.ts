import type { Tensor } from '@tensorflow/tfjs-core';
import { SslError, formatShape, formatValue, invalidConfig } from './errors';

/*
 * Argument checks for losses, blocks and methods: each throws an SslError whose message names the argument,
 * shows what it got and says how to fix it, and returns nothing when the argument is fine. First-party
 * plugins use them; third-party plugins should too, so that every @ssl error reads the same.
 */

/**
 * Throws `shape-mismatch` unless `tensor` has rank `rank`.
 * @param name the argument's name as the caller knows it (`'embeddingsA'`).
 * @param layout the expected layout, shown in the message (`'[batch, dim]'`).
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

/**
 * Throws `shape-mismatch` unless `a` and `b` have exactly the same shape.
 * @param why why they must match, shown after the shapes (`'row i of one is the positive of row i of the other'`).
 */
export function requireSameShape(nameA: string, a: Tensor, nameB: string, b: Tensor, why: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((size, axis) => size !== b.shape[axis])) {
    throw new SslError(
      'shape-mismatch',
      `${nameA} ${formatShape(a.shape)} and ${nameB} ${formatShape(b.shape)} must have the same shape: ${why}.`,
      { details: { [nameA]: a.shape, [nameB]: b.shape } },
    );
  }
}

/** Throws `shape-mismatch` if `tensor` has no elements (a mean over it would be NaN). */
export function requireNonEmpty(name: string, tensor: Tensor): void {
  if (tensor.size === 0) {
    throw new SslError(
      'shape-mismatch',
      `${name} is empty (shape ${formatShape(tensor.shape)}); pass at least one sample and one feature.`,
      {
        details: { name, shape: tensor.shape },
      },
    );
  }
}

/** Throws `dtype-mismatch` unless `tensor` is float32 (int tensors would silently truncate in divisions). */
export function requireFloat(name: string, tensor: Tensor): void {
  if (tensor.dtype !== 'float32') {
    throw new SslError('dtype-mismatch', `${name} must be float32, got ${tensor.dtype}. Cast it with tf.cast(${name}, 'float32').`, {
      details: { name, dtype: tensor.dtype },
    });
  }
}

/** Throws `invalid-config` unless `value` is a finite number > 0 (temperatures, scales, iteration counts). */
export function requirePositive(field: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new SslError('invalid-config', `Invalid config value ${field} = ${formatValue(value)}: expected a finite number > 0.`, {
      details: { field, value },
    });
  }
}

/**
 * Throws `invalid-config` unless `value` is an integer ≥ 1 (widths, counts, sizes); an unset optional
 * option (undefined) passes. `expected` replaces 'a positive integer' in the message (e.g. the paper's value).
 */
export function requirePositiveInteger(field: string, value: unknown, expected = 'a positive integer'): void {
  if (value !== undefined && !(typeof value === 'number' && Number.isInteger(value) && value > 0)) invalidConfig(field, value, expected);
}

/** Throws `invalid-config` unless `value` is a finite number ≥ 0 (loss weights, where 0 turns a term off). */
export function requireNonNegative(field: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new SslError('invalid-config', `Invalid config value ${field} = ${formatValue(value)}: expected a finite number ≥ 0.`, {
      details: { field, value },
    });
  }
}
