import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { describe, expect, it } from 'vitest';
import { allViewPolicies, writeViewGrid } from './main';

describe('view-grid example', () => {
  it('writes a PNG with one row per view of every policy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'view-grid-'));
    try {
      const out = join(dir, 'grid.png');
      const result = await writeViewGrid(out, { images: 4, upscale: 1 });
      const png = pngjs.PNG.sync.read(readFileSync(out));
      // 4 cells of 28 px + 2 px padding; rows: the originals + every view of every policy, 30 px each,
      // with a 6 px gap before each policy's first view.
      const policies = allViewPolicies();
      expect(policies.map((p) => p.name)).toEqual([
        'cropFlip',
        'weak',
        'none',
        'simclr',
        'cropJitter',
        'byol',
        'multiCrop',
        'weakStrong',
        'weakPair',
        'weakViews',
      ]);
      const viewRows = policies.reduce((n, p) => n + p.views.reduce((m, v) => m + (v.count ?? 1), 0), 0);
      expect(result.rows.length).toBe(1 + viewRows);
      expect(result.rows[0]).toBe('original');
      expect([png.width, png.height]).toEqual([4 * 30, (1 + viewRows) * 30 + policies.length * 6]);
      expect([result.width, result.height]).toEqual([png.width, png.height]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
