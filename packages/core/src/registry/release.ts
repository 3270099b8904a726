import { SslError } from '../errors';
import { CORE_VERSION } from '../version';
import { publishedRange } from './published-range';

/** The fields of a plugin's package.json that say which release it is and which @ssl/core it needs. */
export interface PluginManifest {
  readonly name: string;
  readonly version: string;
  readonly peerDependencies?: Readonly<Record<string, string>>;
}

/**
 * The @ssl/core range a plugin supports, read from its package.json's `peerDependencies['@ssl/core']`, so
 * that a release bump (`changeset version`) cannot leave the plugin's declaration stale:
 *
 *   import packageJson from '../package.json';
 *   definePlugin({ name: packageJson.name, version: packageJson.version, core: supportedCoreRange(packageJson), ... })
 *
 * First-party plugins declare `workspace:^`. Their build (tsup.base.ts) writes the range pnpm publishes
 * (`^<core version>`) into dist, so an installed plugin never reaches the `workspace:` case here; it is
 * reached only when running from sources in the @ssl repository, where the @ssl/core that is running is
 * the workspace one pnpm would substitute.
 */
export function supportedCoreRange(manifest: PluginManifest): string {
  const range = manifest.peerDependencies?.['@ssl/core'];
  if (range === undefined) {
    throw new SslError(
      'plugin',
      `${manifest.name}: package.json has no peerDependencies['@ssl/core']; add the range of @ssl/core the plugin supports, e.g. "^${CORE_VERSION}".`,
    );
  }
  return publishedRange(range, CORE_VERSION);
}
