import { SslError } from '../errors';
import type { EncoderDefinition, PluginEncoderSpecs } from '../registry/parts';
import type { AnyEncoder } from './create-encoder';
import { createEncoder } from './create-encoder';
import type { Encoder } from './encoder';
import { CORE_ENCODER_KINDS } from './spec';
import type { EncoderSpec } from './spec';

/** The encoder kinds plugins register, by kind: `registry.parts().encoders` or a MethodHandle's `parts.encoders`. */
export interface EncoderKindsOptions {
  /**
   * A spec of one of these kinds is built by its definition's `create(spec)`; core's kinds (cnn, resnet18/34/50,
   * vit, mlp, text) need nothing here.
   */
  readonly encoders?: Readonly<Record<string, EncoderDefinition>>;
}

/** What the error for a plugin kind met without its definition says: what holds the kind, and the call that passes it. */
export interface EncoderKindContext {
  /** Precedes "a '<kind>' encoder", e.g. "<file> holds". */
  readonly subject: string;
  /** The call with `encoders`, e.g. "loadEncoder(dir, { encoders: registry.parts().encoders })". */
  readonly usage: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * The definition of a plugin's encoder kind from `options.encoders`, or undefined for core's kinds. A plugin's kind
 * without its definition is one SslError('plugin') for every path that meets one (a saved encoder's file, a spec
 * rebuilt for a control), saying that the kind is a plugin's and how to pass its definition.
 */
export function pluginEncoderDefinition(
  kind: string,
  options: EncoderKindsOptions,
  context: EncoderKindContext,
): EncoderDefinition | undefined {
  if (CORE_ENCODER_KINDS.has(kind)) return undefined;
  const definition = options.encoders?.[kind];
  if (definition === undefined) {
    throw new SslError(
      'plugin',
      `${context.subject} a '${kind}' encoder, a kind a plugin registers (core's are ${[...CORE_ENCODER_KINDS].join(', ')}): pass the plugin's encoders, ${context.usage} after registry.use(plugin); the ssl CLI needs the plugin package that defines '${kind}' installed in the project.`,
      { details: { ...context.details, kind } },
    );
  }
  return definition;
}

/** A plugin's encoder built by its definition from a spec, checked by the definition first. */
export function createPluginEncoder(definition: EncoderDefinition, spec: { readonly kind: string; readonly seed?: number }): Encoder {
  definition.validate?.(spec);
  return definition.create(spec);
}

export interface EncoderFromSpecOptions extends EncoderKindsOptions {
  /**
   * The call the error for a plugin kind without its definition tells the user to make (default
   * `encoderFromSpec(spec, { encoders: registry.parts().encoders })`): a function built on this one names itself.
   */
  readonly usage?: string;
}

/**
 * A fresh encoder of any kind from its spec, at the weights its seeds give: core's kinds by `createEncoder`, a
 * plugin's kind by its definition in `options.encoders` (e.g. the random-init control of a saved encoder).
 */
export function encoderFromSpec(
  spec: EncoderSpec | PluginEncoderSpecs[keyof PluginEncoderSpecs],
  options: EncoderFromSpecOptions = {},
): AnyEncoder | Encoder {
  const usage = options.usage ?? 'encoderFromSpec(spec, { encoders: registry.parts().encoders })';
  const definition = pluginEncoderDefinition(spec.kind, options, { subject: 'The spec describes', usage });
  return definition ? createPluginEncoder(definition, spec) : createEncoder(spec as EncoderSpec);
}
