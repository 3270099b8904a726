import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSimclrExample } from './main';

const dir = mkdtempSync(join(tmpdir(), 'simclr-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('simclr-fashion-mnist example', () => {
  it('trains on a slice of the bundled sample and writes results for trained / random init / raw pixels', async () => {
    const result = await runSimclrExample({ data: 'sample', limit: 256, epochs: 1, batchSize: 128, fewLabelSeeds: 2, out: dir, log: () => {} });
    expect(result.steps).toBe(2);
    for (const scores of Object.values(result.results)) {
      // 10 classes: every evaluation must be well above chance (0.1) on Fashion-MNIST.
      expect(scores.knn).toBeGreaterThan(0.4);
      expect(scores.linear).toBeGreaterThan(0.4);
      expect(scores.linear10PerClass.mean).toBeGreaterThan(0.3);
    }
    expect(result.markdown).toContain('| raw pixels |');
    expect(existsSync(join(dir, 'results.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).results.trained.knn).toBe(result.results.trained.knn);
  }, 600_000);
});
