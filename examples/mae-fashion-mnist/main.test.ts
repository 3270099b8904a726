import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@ssl/core';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { runMaeExample } from './main';

describe('mae-fashion-mnist example', () => {
  it('pre-trains, evaluates both encoders and writes the reconstruction grid (tiny settings)', async () => {
    await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
    const dir = mkdtempSync(join(tmpdir(), 'mae-example-'));
    try {
      const png = join(dir, 'grid.png');
      const summary = await runMaeExample({ data: 'sample', maxSteps: 2, batchSize: 16, evalTrain: 300, evalTest: 100, columns: 4, out: join(dir, 'run'), png, log: () => {} });
      expect(summary.steps).toBe(2);
      expect(summary.rows.map((row) => `${row.encoder}/${row.features}`)).toEqual([
        'MAE-pretrained ViT/mean-patch',
        'MAE-pretrained ViT/class-token',
        'random-init ViT/mean-patch',
        'random-init ViT/class-token',
      ]);
      for (const row of summary.rows) {
        // 10 classes: anything a working pipeline produces beats 10% on these images.
        expect(row.linearProbeTop1).toBeGreaterThan(0.2);
        expect(row.knnTop1).toBeGreaterThan(0.1);
      }
      const image = PNG.sync.read(readFileSync(png));
      // 4 rows × (28·4 + 2) + 2 high, 4 columns wide.
      expect([image.width, image.height]).toEqual([4 * 114 + 2, 4 * 114 + 2]);
      expect(existsSync(join(dir, 'run', 'results.json'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
