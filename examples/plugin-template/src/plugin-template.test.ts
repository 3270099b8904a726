import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Random, SslError, applyViews, createRegistry, discoverPlugins, initBackend, loadFashionMnist, train } from '@ssl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import templatePlugin from './index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', log: () => {} });
});

describe('a third-party plugin through the public entry points', () => {
  it('registers its method and trains it for two steps on real data', async () => {
    const registry = createRegistry().use(templatePlugin());
    expect(registry.list().map((m) => m.id)).toContain('template:denoising-autoencoder');
    const method = registry.create('template:denoising-autoencoder', { noiseRate: 0.25 });
    const data = await loadFashionMnist({ split: 'train', source: 'sample' });
    const result = await train({
      method,
      data,
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
      batchSize: 32,
      maxSteps: 2,
      seed: 1,
    });
    expect(result.steps).toBe(2);
    expect(result.history.every((r) => Number.isFinite(r.loss) && r.loss > 0)).toBe(true);
    // afterStep folded the steps' own per-pixel errors into the error map.
    expect(tf.tidy(() => tf.max(result.runtime.state!.errorMap).dataSync()[0])).toBeGreaterThan(0);
    result.dispose();
  });

  it('validates its config through the registry', () => {
    const registry = createRegistry().use(templatePlugin());
    expect(() => registry.create('template:denoising-autoencoder', { noiseRate: 1.5 })).toThrowError(SslError);
  });

  it('is found by plugin discovery in a project that installed it', async () => {
    const project = mkdtempSync(join(tmpdir(), 'ssl-app-'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', dependencies: { 'ssl-plugin-template': '^0.1.0' } }));
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(fileURLToPath(new URL('..', import.meta.url)), join(project, 'node_modules', 'ssl-plugin-template'), 'dir');
    const found = await discoverPlugins({ cwd: project });
    expect(found.map((f) => f.packageName)).toEqual(['ssl-plugin-template']);
    const registry = createRegistry().use(found[0].plugin);
    expect(registry.has('template:denoising-autoencoder')).toBe(true);
    expect(tf.getBackend()).toBe('wasm');
    // The `ssl` command, run in that project, finds the method and the plugin's own view policy.
    const bin = fileURLToPath(new URL('../../../packages/cli/bin/ssl.mjs', import.meta.url));
    const listed = spawnSync(process.execPath, [bin, 'list', '--json'], { cwd: project, encoding: 'utf8', timeout: 60_000 });
    expect(listed.status, listed.stderr).toBe(0);
    const { methods, viewPolicies } = JSON.parse(listed.stdout) as { methods: { id: string }[]; viewPolicies: { name: string }[] };
    expect(methods.map((m) => m.id)).toContain('template:denoising-autoencoder');
    expect(viewPolicies.map((p) => p.name)).toContain('maskingNoise');
  });

  it('trains through its own view policy: the corrupted view zeroes about noiseRate of the pixels', async () => {
    const registry = createRegistry().use(templatePlugin());
    const policy = registry.viewPolicy('maskingNoise', { rate: 0.25 });
    const images = tf.ones([4, 8, 8, 1]) as tf.Tensor4D;
    const [corrupted] = applyViews(policy, images, new Random(1));
    const zeroFraction = 1 - tf.mean(corrupted).dataSync()[0];
    expect(zeroFraction).toBeGreaterThan(0.15);
    expect(zeroFraction).toBeLessThan(0.35);
    tf.dispose([images, corrupted]);
    expect(() => registry.viewPolicy('maskingNoise', { rate: 1 })).toThrow(/maskingNoise.rate/);
  });
});

/**
 * Compile-time checks (run by `pnpm typecheck`): the plugin's MethodConfigs augmentation makes
 * `create` check each method's config. Never called.
 */
export function typeChecksOfCreate(): void {
  const registry = createRegistry().use(templatePlugin());
  registry.create('template:denoising-autoencoder', { noiseRate: 0.1, decoderHidden: 64 });
  // @ts-expect-error noiseRate is a number
  registry.create('template:denoising-autoencoder', { noiseRate: 'high' });
  // @ts-expect-error no such field in DenoisingAutoencoderConfig
  registry.create('template:denoising-autoencoder', { noiseRat: 0.1 });
  // Names registered at run time (e.g. found by discovery) are accepted as plain strings.
  registry.create('someone-else:method', { anything: 1 });
}
