import { SslError } from '../errors';
import type { ViewPolicyDefinition } from '../augment/view-policy';
import type { MethodDefinition } from '../method';
import type { DataKindDefinition } from '../train/data-kinds';
import type { EncoderDefinition } from './parts';

/**
 * Config types of every registered method, keyed '<family>:<method>'. Empty here; each plugin augments it:
 *
 *   declare module '@ssl/core' { interface MethodConfigs { 'contrastive:simclr': SimCLRConfig } }
 *
 * so that `registry.create('contrastive:simclr', config)` type-checks `config`.
 */
export interface MethodConfigs {}

export interface PluginDefinition {
  /** npm package name, e.g. '@ssl/contrastive' or 'ssl-plugin-whatever'. */
  readonly name: string;
  readonly version: string;
  /** Method family: the part before ':' in method names ('contrastive' → 'contrastive:simclr'). */
  readonly family: string;
  /** semver range of @ssl/core the plugin supports, e.g. '^0.1.0'. */
  readonly core: string;
  readonly methods: Readonly<Record<string, MethodDefinition>>;
  /** View policies (augmentation recipes) by name, usable by any method of any plugin in the same registry. */
  readonly viewPolicies?: Readonly<Record<string, ViewPolicyDefinition<object>>>;
  /** Data kinds (modalities, episodes) by name: what a method's `data` may name besides core's four. */
  readonly dataKinds?: Readonly<Record<string, DataKindDefinition>>;
  /** Encoders by kind, built when a run's encoder spec names that kind. */
  readonly encoders?: Readonly<Record<string, EncoderDefinition>>;
}

export type Plugin = PluginDefinition;

const FAMILY_PATTERN = /^[a-z][a-z0-9-]*$/;

/** Validates a plugin's shape once, at definition time, so a broken plugin fails where it is written. */
export function definePlugin(definition: PluginDefinition): Plugin {
  const where = `plugin ${JSON.stringify(definition?.name)}`;
  if (!definition || typeof definition.name !== 'string' || definition.name.length === 0) {
    throw new SslError('plugin', 'definePlugin needs a non-empty `name` (the npm package name).');
  }
  if (typeof definition.version !== 'string' || !/^\d+\.\d+\.\d+/.test(definition.version)) {
    throw new SslError(
      'plugin',
      `${where}: \`version\` must be a semver version such as '1.0.0', got ${JSON.stringify(definition.version)}.`,
    );
  }
  if (typeof definition.family !== 'string' || !FAMILY_PATTERN.test(definition.family)) {
    throw new SslError(
      'plugin',
      `${where}: \`family\` must be lowercase letters, digits or '-', got ${JSON.stringify(definition.family)}.`,
    );
  }
  if (typeof definition.core !== 'string' || definition.core.length === 0) {
    throw new SslError('plugin', `${where}: \`core\` must be the semver range of @ssl/core it supports, e.g. '^0.1.0'.`);
  }
  for (const [key, method] of Object.entries(definition.methods ?? {})) {
    if (!method || typeof method.build !== 'function' || typeof method.views !== 'function') {
      throw new SslError('plugin', `${where}: method ${JSON.stringify(key)} is not a method definition (use defineMethod).`);
    }
    if (method.name !== key) {
      throw new SslError(
        'plugin',
        `${where}: method registered as ${JSON.stringify(key)} is named ${JSON.stringify(method.name)}; use the same name.`,
      );
    }
  }
  checkPartNames(
    where,
    'view policy',
    definition.viewPolicies,
    (p) => p?.name,
    (p) => typeof p?.create === 'function',
  );
  checkPartNames(
    where,
    'data kind',
    definition.dataKinds,
    (k) => k?.name,
    (k) => typeof k?.open === 'function',
  );
  checkPartNames(
    where,
    'encoder',
    definition.encoders,
    (e) => e?.kind,
    (e) => typeof e?.create === 'function',
  );
  return Object.freeze({ ...definition, methods: Object.freeze({ ...definition.methods }) });
}

function checkPartNames<T>(
  where: string,
  what: string,
  parts: Readonly<Record<string, T>> | undefined,
  nameOf: (part: T) => string | undefined,
  isValid: (part: T) => boolean,
): void {
  for (const [key, part] of Object.entries(parts ?? {})) {
    if (!isValid(part)) throw new SslError('plugin', `${where}: ${what} ${JSON.stringify(key)} is not a ${what} definition.`);
    if (nameOf(part) !== key) {
      throw new SslError(
        'plugin',
        `${where}: ${what} registered as ${JSON.stringify(key)} is named ${JSON.stringify(nameOf(part))}; use the same name.`,
      );
    }
  }
}
