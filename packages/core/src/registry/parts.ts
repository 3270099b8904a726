import type { ViewPolicyDefinition } from '../augment/view-policy';
import type { Encoder } from '../nn/encoder';
import type { DataKindDefinition } from '../train/data-kinds';

/**
 * Encoder specs that plugins add, keyed by kind. Empty here; a plugin augments it
 *
 *   declare module '@ssl/core' { interface PluginEncoderSpecs { 'audio-cnn': AudioCnnSpec } }
 *
 * and registers an `EncoderDefinition` under the same kind, so `train({ encoder: { kind: 'audio-cnn', ... } })`
 * type-checks and builds it.
 */
export interface PluginEncoderSpecs {}

/** An encoder a plugin registers: how to check its spec and build it. */
export interface EncoderDefinition<
  Spec extends { readonly kind: string; readonly seed?: number } = { readonly kind: string; readonly seed?: number },
> {
  readonly kind: string;
  readonly description: string;
  /** Throws SslError('invalid-config') naming the field. */
  validate?(spec: Spec): void;
  create(spec: Spec): Encoder;
}

/** Identity function that gives an encoder definition its types. */
export function defineEncoder<Spec extends { readonly kind: string; readonly seed?: number }>(
  definition: EncoderDefinition<Spec>,
): EncoderDefinition<Spec> {
  return Object.freeze(definition);
}

/** Everything a plugin may bring besides methods, as the registry collects it. */
export interface PluginParts {
  readonly viewPolicies: Readonly<Record<string, ViewPolicyDefinition<object>>>;
  readonly dataKinds: Readonly<Record<string, DataKindDefinition>>;
  readonly encoders: Readonly<Record<string, EncoderDefinition>>;
}
