import { describe, expect, it } from 'vitest';
import { SslError } from '../errors';
import { defineMethod } from '../method';
import type { MethodDefinition } from '../method';
import { CORE_VERSION } from '../version';
import { definePlugin } from './plugin';
import { createRegistry } from './registry';

function fakeMethod(name: string, defaults: Record<string, unknown> = { temperature: 0.5, head: { dim: 64 } }): MethodDefinition {
  return defineMethod({
    name,
    description: `${name} for tests`,
    data: 'unlabeled',
    defaults,
    validate(config: Record<string, unknown>) {
      if (typeof config.temperature === 'number' && !(config.temperature > 0)) {
        throw new SslError('invalid-config', `temperature must be > 0, got ${config.temperature}`);
      }
    },
    views: () => ({ unlabeled: 'none' }),
    build: () => {
      throw new Error('not built in registry tests');
    },
  }) as MethodDefinition;
}

const simclr = fakeMethod('simclr');
const moco = fakeMethod('moco');
const plugin = definePlugin({
  name: '@ssl/contrastive',
  version: '0.1.0',
  family: 'contrastive',
  core: `^${CORE_VERSION}`,
  methods: { simclr, moco },
});

function expectSslError(fn: () => unknown, code: string): SslError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SslError);
    expect((error as SslError).code).toBe(code);
    return error as SslError;
  }
  throw new Error(`expected an SslError with code ${code}`);
}

describe('registry', () => {
  it('registers a plugin and lists its methods as <family>:<method>', () => {
    const registry = createRegistry().use(plugin);
    expect(registry.list().map((m) => m.id)).toEqual(['contrastive:moco', 'contrastive:simclr']);
    expect(registry.list()[1]).toMatchObject({
      plugin: '@ssl/contrastive',
      pluginVersion: '0.1.0',
      family: 'contrastive',
      method: 'simclr',
    });
  });

  it('is a no-op to register the same plugin or the same definition twice', () => {
    const registry = createRegistry().use(plugin).use(plugin);
    const again = definePlugin({
      name: '@ssl/contrastive',
      version: '0.1.0',
      family: 'contrastive',
      core: `^${CORE_VERSION}`,
      methods: { simclr },
    });
    registry.use(again);
    expect(registry.list()).toHaveLength(2);
  });

  it('rejects a conflicting definition under the same name', () => {
    const registry = createRegistry().use(plugin);
    const impostor = definePlugin({
      name: 'ssl-plugin-other',
      version: '1.0.0',
      family: 'contrastive',
      core: `^${CORE_VERSION}`,
      methods: { simclr: fakeMethod('simclr') },
    });
    const error = expectSslError(() => registry.use(impostor), 'duplicate-method');
    expect(error.message).toContain('contrastive:simclr');
    expect(error.message).toContain('ssl-plugin-other');
  });

  it('names the registered methods and the closest one for an unknown name', () => {
    const registry = createRegistry().use(plugin);
    const error = expectSslError(() => registry.create('contrastive:simclrr'), 'unknown-method');
    expect(error.message).toContain('contrastive:moco, contrastive:simclr');
    expect(error.message).toContain('Did you mean "contrastive:simclr"');
    expectSslError(() => createRegistry().create('x:y'), 'unknown-method');
  });

  it('resolves an unambiguous bare name', () => {
    expect(createRegistry().use(plugin).create('simclr').id).toBe('contrastive:simclr');
  });

  it('merges defaults with the user config and validates it', () => {
    const registry = createRegistry().use(plugin);
    const handle = registry.create('contrastive:simclr', { temperature: 0.1, head: { dim: 32 } });
    expect(handle.config).toEqual({ temperature: 0.1, head: { dim: 32 } });
    expect(registry.create('contrastive:simclr').config).toEqual({ temperature: 0.5, head: { dim: 64 } });
    expectSslError(() => registry.create('contrastive:simclr', { temperature: -1 }), 'invalid-config');
    const typo = expectSslError(() => registry.create('contrastive:simclr', { temperatur: 0.2 }), 'invalid-config');
    expect(typo.message).toContain('Did you mean "temperature"');
    expectSslError(() => registry.create('contrastive:simclr', { temperature: 'hot' }), 'invalid-config');
  });

  it('rejects a plugin built for another core version', () => {
    const future = definePlugin({
      name: 'ssl-plugin-future',
      version: '3.0.0',
      family: 'future',
      core: '^9.0.0',
      methods: { x: fakeMethod('x') },
    });
    const error = expectSslError(() => createRegistry().use(future), 'version-mismatch');
    expect(error.message).toContain('^9.0.0');
    expect(error.message).toContain(CORE_VERSION);
  });

  it('validates plugin definitions where they are written', () => {
    expectSslError(() => definePlugin({ name: 'p', version: 'one', family: 'f', core: '^0.1.0', methods: {} }), 'plugin');
    expectSslError(() => definePlugin({ name: 'p', version: '1.0.0', family: 'Bad Family', core: '^0.1.0', methods: {} }), 'plugin');
    expectSslError(
      () => definePlugin({ name: 'p', version: '1.0.0', family: 'f', core: '^0.1.0', methods: { a: fakeMethod('b') } }),
      'plugin',
    );
  });
});

describe('mergeConfig', () => {
  it('passes nested overrides through when the default is an empty object, and checks known nested fields', async () => {
    const { mergeConfig } = await import('./registry');
    expect(mergeConfig({ augment: {}, head: { dim: 1 } }, { augment: { numOps: 3 } }, 'm')).toEqual({
      augment: { numOps: 3 },
      head: { dim: 1 },
    });
    expect(() => mergeConfig({ augment: {}, head: { dim: 1 } }, { head: { dimm: 2 } }, 'm')).toThrowError(/Did you mean "dim"/);
  });
});
