import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Options } from 'tsup';
import { publishedRange } from './packages/core/src/registry/published-range';

type EsbuildPlugin = NonNullable<Options['esbuildPlugins']>[number];

const repoRoot = dirname(fileURLToPath(import.meta.url));

/** Shared tsup options: every package ships ESM + CJS + .d.ts from src/index.ts. */
export function packageBuild(overrides: Options = {}): Options {
  return {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: false,
    treeshake: true,
    // Peer and runtime deps stay external; tsup externalises dependencies and peerDependencies by default.
    // import.meta.url (used to find files shipped with a package) needs a shim in the CJS output.
    shims: true,
    ...overrides,
    esbuildPlugins: [publishedManifest(), ...(overrides.esbuildPlugins ?? [])],
  };
}

/**
 * A package.json imported by source (a plugin's version and its `@ssl/core` peer range) is bundled with its
 * `workspace:` ranges written as pnpm publishes them, so dist declares `^0.2.0`, not `workspace:^`, and the
 * registry's version check means something for an installed plugin.
 */
function publishedManifest(): EsbuildPlugin {
  return {
    name: 'ssl-published-manifest',
    setup(build) {
      build.onLoad({ filter: /[\\/]package\.json$/ }, (args) => {
        const manifest = JSON.parse(readFileSync(args.path, 'utf8')) as Record<string, unknown>;
        // Build-time fields have no use at run time and need not ship inside dist.
        delete manifest.devDependencies;
        delete manifest.scripts;
        const versions = workspaceVersions();
        for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
          const ranges = manifest[field] as Record<string, string> | undefined;
          for (const [name, range] of Object.entries(ranges ?? {})) {
            if (!range.startsWith('workspace:')) continue;
            const version = versions.get(name);
            if (version === undefined)
              throw new Error(`${args.path}: ${field}.${name} is ${range}, but no workspace package is named ${name}.`);
            ranges![name] = publishedRange(range, version);
          }
        }
        return { contents: JSON.stringify(manifest), loader: 'json' };
      });
    },
  };
}

function workspaceVersions(): Map<string, string> {
  const versions = new Map<string, string>();
  for (const folder of ['packages', 'examples']) {
    for (const entry of readdirSync(join(repoRoot, folder), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      try {
        const { name, version } = JSON.parse(readFileSync(join(repoRoot, folder, entry.name, 'package.json'), 'utf8')) as {
          name: string;
          version: string;
        };
        versions.set(name, version);
      } catch {
        // a folder without package.json is not a workspace package
      }
    }
  }
  return versions;
}
