import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@ssl/core';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { parseMaeArgs, runMaeExample } from './main';

describe('mae-fashion-mnist example', () => {
  it('pre-trains, scores the ViT beside its random init and raw pixels, and writes the reconstruction grid (tiny settings)', async () => {
    await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
    const dir = mkdtempSync(join(tmpdir(), 'mae-example-'));
    try {
      const png = join(dir, 'grid.png');
      const options = parseMaeArgs([
        '--data',
        'sample',
        '--max-steps',
        '2',
        '--batch-size',
        '16',
        '--eval-train',
        '300',
        '--eval-test',
        '100',
        '--out',
        join(dir, 'run'),
        '--png',
        png,
      ]);
      const result = await runMaeExample({ ...options, columns: 4, log: () => {} });
      expect(result.steps).toBe(2);
      // Mean of the patch tokens, vit28's width.
      expect(result.results.trained.featureDim).toBe(128);
      expect(result.results.randomInit.featureDim).toBe(128);
      expect(result.protocol.trainImages).toBe(300);
      for (const scores of Object.values(result.results)) {
        // 10 classes: anything a working pipeline produces beats 10% on these images.
        expect(scores.linear).toBeGreaterThan(0.2);
        expect(scores.knn).toBeGreaterThan(0.1);
      }
      // The encoder's figures (header, rule, 3 rows), then the method's own task on held-out images.
      const [encoderTable, ownTask] = result.table.split('\n\n');
      expect(encoderTable.split('\n')).toHaveLength(5);
      expect(ownTask).toContain("the method's own task, held-out data");
      const image = PNG.sync.read(readFileSync(png));
      // 4 rows × (28·4 + 2) + 2 high, 4 columns wide.
      expect([image.width, image.height]).toEqual([4 * 114 + 2, 4 * 114 + 2]);
      expect(existsSync(join(dir, 'run', 'results.json'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
