import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CORE_VERSION } from '../version';
import { publishedRange } from './published-range';
import { supportedCoreRange } from './release';
import type { PluginManifest } from './release';

const packagesRoot = fileURLToPath(new URL('../../../', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const versionModule = fileURLToPath(new URL('../version.ts', import.meta.url));

interface Manifest extends PluginManifest {
  readonly keywords?: readonly string[];
}

function readManifest(path: string): Manifest {
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

/** packages/* whose package.json marks them as @ssl plugins (the `ssl-plugin` keyword discovery uses). */
function firstPartyPluginFolders(): string[] {
  return readdirSync(packagesRoot)
    .filter((folder) => existsSync(join(packagesRoot, folder, 'package.json')))
    .filter((folder) => readManifest(join(packagesRoot, folder, 'package.json')).keywords?.includes('ssl-plugin'))
    .sort();
}

describe('publishedRange (what pnpm writes for workspace: ranges)', () => {
  it('rewrites the workspace: forms and leaves plain ranges alone', () => {
    expect(publishedRange('workspace:^', '0.2.0')).toBe('^0.2.0');
    expect(publishedRange('workspace:~', '0.2.0')).toBe('~0.2.0');
    expect(publishedRange('workspace:*', '0.2.0')).toBe('0.2.0');
    expect(publishedRange('workspace:^0.1.3', '0.2.0')).toBe('^0.1.3');
    expect(publishedRange('^0.1.0', '0.2.0')).toBe('^0.1.0');
  });
});

describe('supportedCoreRange', () => {
  it("reads peerDependencies['@ssl/core'] and resolves workspace:^ against the running core", () => {
    expect(supportedCoreRange({ name: 'p', version: '1.0.0', peerDependencies: { '@ssl/core': 'workspace:^' } })).toBe(`^${CORE_VERSION}`);
    expect(supportedCoreRange({ name: 'p', version: '1.0.0', peerDependencies: { '@ssl/core': '^0.1.0 || ^0.2.0' } })).toBe(
      '^0.1.0 || ^0.2.0',
    );
  });

  it('says what to add when package.json has no @ssl/core peer', () => {
    expect(() => supportedCoreRange({ name: 'ssl-plugin-x', version: '1.0.0' })).toThrow(
      /ssl-plugin-x: package\.json has no peerDependencies\['@ssl\/core'\]/,
    );
  });
});

describe('first release after 0.1.0 (issue 21, acceptance 1)', () => {
  let scratch: string | undefined;
  afterEach(() => {
    vi.doUnmock(versionModule);
    vi.resetModules();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    scratch = undefined;
  });

  it('finds the first-party plugins', () => {
    expect(firstPartyPluginFolders()).toEqual(['clip', 'contrastive', 'masked', 'noncontrastive', 'pretext', 'semisup']);
  });

  it('`changeset version` for a minor core change releases everything as 0.2.0, and core 0.2.0 accepts every plugin', async () => {
    // A temporary copy of the workspace's manifests and changesets config, versioned by the real
    // `changeset version` (with the repository's patch of @changesets/assemble-release-plan) for one
    // `'@ssl/core': minor` changeset: the first minor release of the fixed @ssl/* group.
    scratch = mkdtempSync(join(tmpdir(), 'ssl-release-'));
    for (const file of ['package.json', 'pnpm-workspace.yaml', '.changeset/config.json']) {
      mkdirSync(dirname(join(scratch, file)), { recursive: true });
      cpSync(join(repoRoot, file), join(scratch, file));
    }
    for (const folder of ['packages', 'examples']) {
      for (const name of readdirSync(join(repoRoot, folder))) {
        if (!existsSync(join(repoRoot, folder, name, 'package.json'))) continue;
        mkdirSync(join(scratch, folder, name), { recursive: true });
        cpSync(join(repoRoot, folder, name, 'package.json'), join(scratch, folder, name, 'package.json'));
      }
    }
    writeFileSync(join(scratch, '.changeset', 'first-minor.md'), "---\n'@ssl/core': minor\n---\n\nA minor change of core.\n");
    execFileSync(process.execPath, [join(repoRoot, 'node_modules', '@changesets', 'cli', 'bin.js'), 'version'], {
      cwd: scratch,
      stdio: 'pipe',
    });

    const bumped = (folder: string) => readManifest(join(scratch!, 'packages', folder, 'package.json'));
    const core = bumped('core');
    expect(core.version).toBe('0.2.0');

    // The registry of that core: same code, CORE_VERSION read from the bumped package.json.
    vi.resetModules();
    vi.doMock(versionModule, () => ({ CORE_VERSION: core.version }));
    const { createRegistry } = await import('./registry');
    const { definePlugin } = await import('./plugin');

    for (const folder of firstPartyPluginFolders()) {
      const plugin = bumped(folder);
      expect(plugin.version, plugin.name).toBe('0.2.0');
      // What the plugin's dist declares: its package.json's @ssl/core peer as published (tsup.base.ts).
      const range = publishedRange(plugin.peerDependencies!['@ssl/core'], core.version);
      const definition = definePlugin({ name: plugin.name, version: plugin.version, family: folder, core: range, methods: {} });
      expect(() => createRegistry().use(definition), `${plugin.name}@${plugin.version} declaring core ${range}`).not.toThrow();
    }

    // The same registry refuses what the plugins hard-coded before: `^0.1.0` does not admit 0.2.0.
    const stale = definePlugin({ name: '@ssl/contrastive', version: '0.2.0', family: 'contrastive', core: '^0.1.0', methods: {} });
    expect(() => createRegistry().use(stale)).toThrow(/supports @ssl\/core \^0\.1\.0, but @ssl\/core 0\.2\.0 is installed/);
  });
});
