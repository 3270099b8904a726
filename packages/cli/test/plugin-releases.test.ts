import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Plugin } from '@ssl/core';
import { describe, expect, it } from 'vitest';
import templatePlugin from '../../../examples/plugin-template/src/index';
import { loadRegistry } from '../src/plugins';

const repoRoot = new URL('../../../', import.meta.url);

interface Manifest {
  name: string;
  version: string;
  peerDependencies?: Record<string, string>;
}

async function manifest(relativePath: string): Promise<Manifest> {
  return JSON.parse(await readFile(new URL(relativePath, repoRoot), 'utf8')) as Manifest;
}

/** The range pnpm publishes for a workspace:^ peer (the only workspace form the plugins use). */
function published(range: string, coreVersion: string): string {
  return range === 'workspace:^' ? `^${coreVersion}` : range;
}

describe("plugins' version and @ssl/core range come from their package.json", () => {
  it('every first-party plugin the CLI loads declares its package version and its published @ssl/core peer range', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'ssl-plugin-releases-'));
    try {
      const { registry } = await loadRegistry(empty);
      const plugins = registry.plugins();
      expect(plugins.map((plugin) => plugin.name).sort()).toEqual([
        '@ssl/clip',
        '@ssl/contrastive',
        // @ssl/eval's multi-task methods (one encoder under several registered methods' losses).
        '@ssl/eval',
        '@ssl/masked',
        '@ssl/noncontrastive',
        '@ssl/pretext',
        '@ssl/semisup',
      ]);
      const core = await manifest('packages/core/package.json');
      for (const plugin of plugins) {
        const own = await manifest(`packages/${plugin.name.replace('@ssl/', '')}/package.json`);
        expect(own.peerDependencies?.['@ssl/core'], `${plugin.name} peer range`).toBe('workspace:^');
        expect({ version: plugin.version, core: plugin.core }, plugin.name).toEqual({
          version: own.version,
          core: published('workspace:^', core.version),
        });
      }
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('the plugin template declares its package version and its @ssl/core peer range', async () => {
    const own = await manifest('examples/plugin-template/package.json');
    const plugin: Plugin = templatePlugin();
    expect({ name: plugin.name, version: plugin.version, core: plugin.core }).toEqual({
      name: own.name,
      version: own.version,
      core: own.peerDependencies?.['@ssl/core'],
    });
  });
});
