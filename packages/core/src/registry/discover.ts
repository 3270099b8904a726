import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SslError } from '../errors';
import type { Plugin } from './plugin';

export interface DiscoveredPlugin {
  readonly packageName: string;
  readonly packageVersion: string;
  readonly plugin: Plugin;
}

export interface DiscoverOptions {
  /** Project directory whose package.json and node_modules are searched. Default: process.cwd(). */
  readonly cwd?: string;
  /** Called for packages that look like plugins but failed to load (default: throw). */
  readonly onError?: (packageName: string, error: unknown) => void;
}

/** Package names that are plugin candidates: '@ssl/<name>' and 'ssl-plugin-<name>' (and scoped '@x/ssl-plugin-<name>'). */
export function isPluginPackageName(name: string): boolean {
  return /^@ssl\/[a-z0-9-]+$/.test(name) || /^(@[a-z0-9-~][a-z0-9-._~]*\/)?ssl-plugin-[a-z0-9-._~]+$/.test(name);
}

/**
 * Finds installed @ssl plugins in a project: packages named `@ssl/*` or `ssl-plugin-*` that carry the
 * `ssl-plugin` keyword, listed in the project's dependencies or present in its node_modules. Each is
 * imported and its default export (a plugin factory, or a plugin object) is called with no options.
 */
export async function discoverPlugins(options: DiscoverOptions = {}): Promise<DiscoveredPlugin[]> {
  const cwd = options.cwd ?? process.cwd();
  const candidates = new Set<string>();
  const manifestPath = join(cwd, 'package.json');
  if (existsSync(manifestPath)) {
    const manifest = readJson(manifestPath) as Record<string, Record<string, string> | undefined>;
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies']) {
      for (const name of Object.keys(manifest[field] ?? {})) if (isPluginPackageName(name)) candidates.add(name);
    }
  }
  const modules = join(cwd, 'node_modules');
  if (existsSync(modules)) {
    for (const entry of readdirSync(modules)) {
      if (entry === '@ssl' || entry.startsWith('@')) {
        const scopeDir = join(modules, entry);
        for (const inner of safeReaddir(scopeDir)) {
          const name = `${entry}/${inner}`;
          if (isPluginPackageName(name)) candidates.add(name);
        }
      } else if (isPluginPackageName(entry)) {
        candidates.add(entry);
      }
    }
  }

  const require = createRequire(manifestPath);
  const found: DiscoveredPlugin[] = [];
  for (const packageName of [...candidates].sort()) {
    try {
      const packageJsonPath = findPackageJson(require, packageName, cwd);
      if (!packageJsonPath) continue;
      const pkg = readJson(packageJsonPath) as { version?: string; keywords?: string[] };
      if (!pkg.keywords?.includes('ssl-plugin')) continue;
      const entry = require.resolve(packageName);
      const mod = (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
      const plugin = instantiate(mod, packageName);
      if (plugin) found.push({ packageName, packageVersion: pkg.version ?? '0.0.0', plugin });
    } catch (error) {
      if (options.onError) options.onError(packageName, error);
      else throw new SslError('plugin', `Could not load plugin package ${packageName}: ${(error as Error).message}`, { cause: error });
    }
  }
  return found;
}

function instantiate(mod: Record<string, unknown>, packageName: string): Plugin | undefined {
  // ESM default export, or CJS module.exports.default after interop.
  let exported: unknown = mod.default ?? mod.plugin;
  if (exported && typeof exported === 'object' && 'default' in exported) exported = (exported as { default: unknown }).default;
  if (typeof exported === 'function') exported = (exported as () => unknown)();
  if (isPlugin(exported)) return exported;
  // A package with the keyword but no default export registers nothing: skip it quietly.
  if (exported === undefined) return undefined;
  throw new SslError(
    'plugin',
    `${packageName}'s default export is not an @ssl plugin (expected definePlugin(...) or a factory returning one).`,
  );
}

function isPlugin(value: unknown): value is Plugin {
  return typeof value === 'object' && value !== null && 'family' in value && 'methods' in value && 'core' in value;
}

function findPackageJson(require: NodeRequire, packageName: string, cwd: string): string | undefined {
  try {
    return require.resolve(`${packageName}/package.json`);
  } catch {
    const direct = join(cwd, 'node_modules', packageName, 'package.json');
    return existsSync(direct) ? direct : undefined;
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new SslError('io', `Could not read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
