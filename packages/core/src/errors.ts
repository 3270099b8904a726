/**
 * Every failure @ssl reports on purpose is an SslError. The `code` lets programs branch on the kind of
 * problem; the message says what is wrong and how to fix it.
 */
export type SslErrorCode =
  | 'invalid-config'
  | 'shape-mismatch'
  | 'dtype-mismatch'
  | 'non-finite-loss'
  | 'unknown-method'
  | 'duplicate-method'
  | 'version-mismatch'
  | 'plugin'
  | 'data'
  | 'backend'
  | 'checkpoint'
  | 'io'
  /** Parameters or gradients became non-finite (NaN/Inf) during training. */
  | 'diverged'
  /** The encoder's normalised outputs stopped varying across images for a sustained period. */
  | 'collapsed'
  /** Another live process owns the run directory (its run.lock). */
  | 'locked';

export class SslError extends Error {
  readonly code: SslErrorCode;
  /** Structured facts about the failure (offending value, file, shape...) for tools that render errors. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: SslErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SslError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

export function isSslError(value: unknown, code?: SslErrorCode): value is SslError {
  return value instanceof SslError && (code === undefined || value.code === code);
}

/** Throws an `invalid-config` error naming the field, the bad value and what is allowed. */
export function invalidConfig(field: string, value: unknown, expected: string): never {
  throw new SslError('invalid-config', `Invalid config value ${field} = ${formatValue(value)}: expected ${expected}.`, {
    details: { field, value, expected },
  });
}

export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  return String(value);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
