import { SslError } from '../errors';
import type { MethodDefinition } from '../method';

/**
 * Config types of every registered method, keyed '<family>:<method>'. Empty here; each plugin augments it:
 *
 *   declare module '@ssl/core' { interface MethodConfigs { 'contrastive:simclr': SimCLRConfig } }
 *
 * so that `registry.create('contrastive:simclr', config)` type-checks `config`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
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
    throw new SslError('plugin', `${where}: \`version\` must be a semver version such as '1.0.0', got ${JSON.stringify(definition.version)}.`);
  }
  if (typeof definition.family !== 'string' || !FAMILY_PATTERN.test(definition.family)) {
    throw new SslError('plugin', `${where}: \`family\` must be lowercase letters, digits or '-', got ${JSON.stringify(definition.family)}.`);
  }
  if (typeof definition.core !== 'string' || definition.core.length === 0) {
    throw new SslError('plugin', `${where}: \`core\` must be the semver range of @ssl/core it supports, e.g. '^0.1.0'.`);
  }
  for (const [key, method] of Object.entries(definition.methods ?? {})) {
    if (!method || typeof method.build !== 'function' || typeof method.views !== 'function') {
      throw new SslError('plugin', `${where}: method ${JSON.stringify(key)} is not a method definition (use defineMethod).`);
    }
    if (method.name !== key) {
      throw new SslError('plugin', `${where}: method registered as ${JSON.stringify(key)} is named ${JSON.stringify(method.name)}; use the same name.`);
    }
  }
  return Object.freeze({ ...definition, methods: Object.freeze({ ...definition.methods }) });
}
