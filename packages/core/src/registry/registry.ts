import semver from 'semver';
import { SslError, formatValue } from '../errors';
import type { MethodDefinition } from '../method';
import { CORE_VERSION } from '../version';
import { closestMatch } from './closest';
import type { MethodConfigs, Plugin } from './plugin';
import { CORE_VIEW_POLICIES, createViewPolicy, findViewPolicy } from '../augment/view-policy';
import type { ViewPolicy } from '../augment/policies';
import { CORE_DATA_KINDS } from '../train/data-kinds';
import type { PluginParts } from './parts';

export type KnownMethodName = keyof MethodConfigs & string;

/** Config as users write it: any subset of the method's fields, nested objects partial too. */
export type PartialConfig<T> = {
  [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? PartialConfig<T[K]> : T[K];
};

/** A method resolved by name with its full, validated config: what the trainer runs. */
export interface MethodHandle<Config extends object = object> {
  /** '<family>:<method>' */
  readonly id: string;
  readonly definition: MethodDefinition<Config>;
  readonly config: Config;
  readonly plugin: { readonly name: string; readonly version: string };
  /** View policies, data kinds and encoders of core and of every plugin registered when the handle was made. */
  readonly parts: PluginParts;
}

export interface RegisteredMethod {
  readonly id: string;
  readonly family: string;
  readonly method: string;
  readonly description: string;
  readonly data: MethodDefinition['data'];
  readonly plugin: string;
  readonly pluginVersion: string;
  readonly paper?: MethodDefinition['paper'];
}

export interface Registry {
  /** Registers every method of a plugin. Registering the same plugin again is a no-op. */
  use(plugin: Plugin): Registry;
  has(id: string): boolean;
  /** Resolves a method by '<family>:<method>' (or by its bare name when that is unambiguous). */
  create<N extends KnownMethodName>(id: N, config?: PartialConfig<MethodConfigs[N]>): MethodHandle<MethodConfigs[N] & object>;
  create<N extends string>(id: N extends KnownMethodName ? never : N, config?: Readonly<Record<string, unknown>>): MethodHandle;
  list(): RegisteredMethod[];
  plugins(): Plugin[];
  /** A view policy of core or of a registered plugin, with its options overridden (checked). */
  viewPolicy(name: string, overrides?: Readonly<Record<string, unknown>>): ViewPolicy;
  /** Core's view policies, data kinds and encoders together with every registered plugin's. */
  parts(): PluginParts;
}

type PartKind = keyof PluginParts;

/** Adds a plugin's parts of one kind; the same definition twice is a no-op, another one under a taken name throws. */
function mergeParts(
  into: Record<string, unknown>,
  parts: Readonly<Record<string, unknown>> | undefined,
  kind: PartKind,
  plugin: Plugin,
): void {
  for (const [name, part] of Object.entries(parts ?? {})) {
    if (into[name] !== undefined && into[name] !== part) {
      throw new SslError(
        'duplicate-method',
        `${plugin.name}@${plugin.version} registers ${kind} "${name}", which another plugin (or core) already defines. Rename one of them.`,
        {
          details: { kind, name },
        },
      );
    }
  }
  Object.assign(into, parts ?? {});
}

interface Entry {
  readonly id: string;
  readonly definition: MethodDefinition;
  readonly plugin: Plugin;
}

export function createRegistry(): Registry {
  const entries = new Map<string, Entry>();
  const plugins: Plugin[] = [];
  const viewPolicies: Record<string, unknown> = { ...CORE_VIEW_POLICIES };
  const dataKinds: Record<string, unknown> = { ...CORE_DATA_KINDS };
  const encoders: Record<string, unknown> = {};
  const snapshot = (): PluginParts =>
    Object.freeze({ viewPolicies: { ...viewPolicies }, dataKinds: { ...dataKinds }, encoders: { ...encoders } }) as PluginParts;

  function resolveId(id: string): Entry {
    const direct = entries.get(id);
    if (direct) return direct;
    if (!id.includes(':')) {
      const matches = [...entries.values()].filter((e) => e.definition.name === id);
      if (matches.length === 1) return matches[0];
      if (matches.length > 1) {
        throw new SslError(
          'unknown-method',
          `Method name "${id}" is ambiguous: ${matches.map((m) => m.id).join(', ')}. Use the full '<family>:<method>' name.`,
        );
      }
    }
    const known = [...entries.keys()].sort();
    const suggestion = closestMatch(id, known);
    throw new SslError(
      'unknown-method',
      `Unknown method "${id}". ` +
        (known.length === 0
          ? 'No methods are registered: install a plugin (e.g. `pnpm add @ssl/contrastive`) and call registry.use(plugin).'
          : `Registered: ${known.join(', ')}.` + (suggestion ? ` Did you mean "${suggestion}"?` : '')),
      { details: { id, known, suggestion } },
    );
  }

  const registry: Registry = {
    use(plugin: Plugin): Registry {
      if (plugins.includes(plugin)) return registry;
      if (!semver.validRange(plugin.core)) {
        throw new SslError('plugin', `Plugin ${plugin.name} declares an invalid @ssl/core range ${JSON.stringify(plugin.core)}.`);
      }
      if (!semver.satisfies(CORE_VERSION, plugin.core, { includePrerelease: true })) {
        throw new SslError(
          'version-mismatch',
          `Plugin ${plugin.name}@${plugin.version} supports @ssl/core ${plugin.core}, but @ssl/core ${CORE_VERSION} is installed. ` +
            `Install a version of ${plugin.name} built for @ssl/core ${CORE_VERSION}, or an @ssl/core matching ${plugin.core}.`,
          { details: { plugin: plugin.name, range: plugin.core, core: CORE_VERSION } },
        );
      }
      const pending: Entry[] = [];
      for (const definition of Object.values(plugin.methods)) {
        const id = `${plugin.family}:${definition.name}`;
        const existing = entries.get(id);
        if (existing) {
          // The same definition registered twice (e.g. by two plugin instances of one package) is harmless.
          if (existing.definition === definition) continue;
          throw new SslError(
            'duplicate-method',
            `Method "${id}" from ${plugin.name}@${plugin.version} conflicts with the one already registered by ${existing.plugin.name}@${existing.plugin.version}. ` +
              'Register only one of them, or give the new method another name.',
            { details: { id } },
          );
        }
        pending.push({ id, definition, plugin });
      }
      // Parts are checked against scratch copies first, so a conflict leaves the registry as it was.
      const merged = { viewPolicies: { ...viewPolicies }, dataKinds: { ...dataKinds }, encoders: { ...encoders } };
      mergeParts(merged.viewPolicies, plugin.viewPolicies, 'viewPolicies', plugin);
      mergeParts(merged.dataKinds, plugin.dataKinds, 'dataKinds', plugin);
      mergeParts(merged.encoders, plugin.encoders, 'encoders', plugin);
      Object.assign(viewPolicies, merged.viewPolicies);
      Object.assign(dataKinds, merged.dataKinds);
      Object.assign(encoders, merged.encoders);
      for (const entry of pending) entries.set(entry.id, entry);
      plugins.push(plugin);
      return registry;
    },

    has(id: string): boolean {
      return entries.has(id);
    },

    create(id: string, config: Readonly<Record<string, unknown>> = {}): MethodHandle {
      const entry = resolveId(id);
      const resolved = mergeConfig(entry.definition.defaults as Record<string, unknown>, config, entry.id);
      entry.definition.validate?.(resolved);
      return Object.freeze({
        id: entry.id,
        definition: entry.definition,
        config: Object.freeze(resolved),
        plugin: { name: entry.plugin.name, version: entry.plugin.version },
        parts: snapshot(),
      });
    },

    list(): RegisteredMethod[] {
      return [...entries.values()]
        .map((e) => ({
          id: e.id,
          family: e.plugin.family,
          method: e.definition.name,
          description: e.definition.description,
          data: e.definition.data,
          plugin: e.plugin.name,
          pluginVersion: e.plugin.version,
          paper: e.definition.paper,
        }))
        .sort((a, b) => a.id.localeCompare(b.id));
    },

    plugins(): Plugin[] {
      return [...plugins];
    },

    viewPolicy(name: string, overrides: Readonly<Record<string, unknown>> = {}): ViewPolicy {
      return createViewPolicy(findViewPolicy(name, snapshot().viewPolicies), overrides);
    },

    parts: snapshot,
  } as Registry;
  return registry;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * Defaults overlaid with the user's config. Unknown keys are errors (a typo silently ignored is a wasted
 * training run); a value whose type differs from the default's is an error too.
 */
export function mergeConfig(
  defaults: Record<string, unknown>,
  overrides: Readonly<Record<string, unknown>>,
  path: string,
): Record<string, unknown> {
  if (!isPlainObject(overrides)) {
    throw new SslError('invalid-config', `Config for ${path} must be a plain object, got ${formatValue(overrides)}.`);
  }
  const result: Record<string, unknown> = { ...defaults };
  // An empty-object default is an open set of overrides handed to another component (e.g. a view
  // policy's options), which validates them itself.
  const open = Object.keys(defaults).length === 0;
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const field = `${path}.${key}`;
    if (open) {
      result[key] = value;
      continue;
    }
    if (!(key in defaults)) {
      const suggestion = closestMatch(key, Object.keys(defaults));
      throw new SslError(
        'invalid-config',
        `Unknown config field ${field}.` +
          (suggestion ? ` Did you mean "${suggestion}"?` : '') +
          ` Known fields: ${Object.keys(defaults).join(', ')}.`,
        { details: { field } },
      );
    }
    const base = defaults[key];
    if (isPlainObject(base) && isPlainObject(value)) {
      result[key] = mergeConfig(base, value, field);
    } else if (base !== undefined && base !== null && value !== null && typeof base !== typeof value) {
      throw new SslError('invalid-config', `Invalid config value ${field} = ${formatValue(value)}: expected a ${typeof base}.`, {
        details: { field, value },
      });
    } else {
      result[key] = value;
    }
  }
  return result;
}
