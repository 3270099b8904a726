import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverPlugins, isPluginPackageName } from './discover';

function writePackage(root: string, name: string, pkg: Record<string, unknown>, source: string): void {
  const dir = join(root, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.2.3', main: 'index.cjs', ...pkg }));
  writeFileSync(join(dir, 'index.cjs'), source);
}

describe('discoverPlugins', () => {
  it('recognises plugin package names', () => {
    expect(isPluginPackageName('@ssl/contrastive')).toBe(true);
    expect(isPluginPackageName('ssl-plugin-foo')).toBe(true);
    expect(isPluginPackageName('@acme/ssl-plugin-foo')).toBe(true);
    expect(isPluginPackageName('left-pad')).toBe(false);
  });

  it('loads installed packages with the ssl-plugin keyword and skips others', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ssl-discover-'));
    writeFileSync(
      join(root, 'package.json'),
      JSON.stringify({ name: 'app', dependencies: { 'ssl-plugin-toy': '1.0.0', 'ssl-plugin-nokeyword': '1.0.0' } }),
    );
    const pluginObject = "{ name: 'ssl-plugin-toy', version: '1.2.3', family: 'toy', core: '^0.1.0', methods: {} }";
    writePackage(root, 'ssl-plugin-toy', { keywords: ['ssl-plugin'] }, `module.exports = { default: () => (${pluginObject}) };`);
    writePackage(root, 'ssl-plugin-nokeyword', {}, 'throw new Error("must not be imported");');
    const found = await discoverPlugins({ cwd: root });
    expect(found.map((f) => f.packageName)).toEqual(['ssl-plugin-toy']);
    expect(found[0].plugin.family).toBe('toy');
    expect(found[0].packageVersion).toBe('1.2.3');
  });

  it('reports a broken plugin package by name', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ssl-discover-'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'app' }));
    writePackage(root, 'ssl-plugin-broken', { keywords: ['ssl-plugin'] }, 'module.exports = { default: 42 };');
    await expect(discoverPlugins({ cwd: root })).rejects.toThrow(/ssl-plugin-broken/);
    const errors: string[] = [];
    await discoverPlugins({ cwd: root, onError: (name) => errors.push(name) });
    expect(errors).toEqual(['ssl-plugin-broken']);
  });
});
