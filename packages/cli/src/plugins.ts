import * as clipPackage from '@ssl/clip';
import * as contrastivePackage from '@ssl/contrastive';
import { SslError, createRegistry, discoverPlugins, type Plugin, type Registry } from '@ssl/core';
import { multiTask } from '@ssl/eval';
import * as maskedPackage from '@ssl/masked';
import * as noncontrastivePackage from '@ssl/noncontrastive';
import * as pretextPackage from '@ssl/pretext';
import * as semisupPackage from '@ssl/semisup';

/**
 * The first-party plugins ship with the CLI as dependencies, so `npm i -g @ssl/cli` works in an empty folder.
 * They are imported statically rather than discovered: discovery resolves packages from the user's project,
 * which may not have them.
 */
const FIRST_PARTY_PLUGIN_MODULES: ReadonlyArray<readonly [packageName: string, module: Record<string, unknown>]> = [
  ['@ssl/contrastive', contrastivePackage],
  ['@ssl/noncontrastive', noncontrastivePackage],
  ['@ssl/masked', maskedPackage],
  ['@ssl/semisup', semisupPackage],
  ['@ssl/pretext', pretextPackage],
  ['@ssl/clip', clipPackage],
];

export interface LoadedRegistry {
  registry: Registry;
  /** Plugin packages that were found but could not be loaded; the CLI prints them as warnings and carries on. */
  warnings: string[];
}

/**
 * A registry with the first-party plugins plus third-party `ssl-plugin-*` packages installed in `cwd`'s
 * project, and `multi-task:hard-sharing` (@ssl/eval) combining any of their unlabeled methods. A project's
 * own copy of a first-party plugin is ignored: the CLI uses the one it was built with.
 */
export async function loadRegistry(cwd: string): Promise<LoadedRegistry> {
  const registry = createRegistry();
  const warnings: string[] = [];
  const firstPartyNames = new Set(FIRST_PARTY_PLUGIN_MODULES.map(([name]) => name));
  for (const [packageName, module] of FIRST_PARTY_PLUGIN_MODULES) {
    const plugin = pluginFromModule(module, packageName);
    if (plugin) registry.use(plugin);
  }
  const discovered = await discoverPlugins({
    cwd,
    onError: (packageName, error) => warnings.push(`could not load plugin ${packageName}: ${(error as Error).message ?? String(error)}`),
  });
  for (const { packageName, plugin } of discovered) {
    if (firstPartyNames.has(packageName)) continue;
    try {
      registry.use(plugin);
    } catch (error) {
      // A third-party plugin for another core version must not take the whole CLI down.
      warnings.push(`skipped plugin ${packageName}: ${(error as Error).message}`);
    }
  }
  // Last, so that a combination's tasks may be any method registered above (third-party ones too).
  registry.use(multiTask({ plugins: registry.plugins() }));
  return { registry, warnings };
}

/** A package's default export is a plugin factory (house style) or a plugin object; undefined if it has neither. */
function pluginFromModule(module: Record<string, unknown>, packageName: string): Plugin | undefined {
  let exported = module.default;
  if (typeof exported === 'function') exported = (exported as () => unknown)();
  if (exported === undefined) return undefined;
  if (typeof exported === 'object' && exported !== null && 'methods' in exported && 'family' in exported && 'core' in exported) {
    return exported as Plugin;
  }
  throw new SslError(
    'plugin',
    `${packageName}'s default export is not an @ssl plugin (expected definePlugin(...) or a factory returning one).`,
  );
}
