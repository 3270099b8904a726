import { invalidConfig } from '@ssl/core';

/** Checks shared by this package's configs; each throws SslError('invalid-config') naming the field. */

export function requireFraction(field: string, value: unknown, expected = 'a number in [0, 1]'): void {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) invalidConfig(field, value, expected);
}

export function requireNonNegativeNumber(field: string, value: unknown, expected = 'a finite number ≥ 0'): void {
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) invalidConfig(field, value, expected);
}

export { requirePositiveInteger } from '@ssl/core';

export function requireDropout(field: string, value: unknown): void {
  if (typeof value !== 'number' || !(value >= 0 && value < 1))
    invalidConfig(field, value, 'a number in [0, 1) (the probability of dropping)');
}

export function requireEmaDecay(field: string, value: unknown): void {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) invalidConfig(field, value, 'a number in [0, 1)');
}
