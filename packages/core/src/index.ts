export const CORE_VERSION = '0.1.0';
export { SslError, isSslError, invalidConfig, formatShape, formatValue } from './errors';
export type { SslErrorCode } from './errors';
export { Random } from './random';
