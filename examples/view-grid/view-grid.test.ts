import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { describe, expect, it } from 'vitest';
import { writeViewGrid } from './main';

describe('view-grid example', () => {
  it('writes a PNG with one row per view of every policy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'view-grid-'));
    try {
      const out = join(dir, 'grid.png');
      const result = await writeViewGrid(out, { images: 4, upscale: 1 });
      const png = pngjs.PNG.sync.read(readFileSync(out));
      // 4 cells of 28 px + 2 px padding; 17 rows (original + 16 views) of 30 px + 6 gaps of 6 px.
      expect(result.rows.length).toBe(17);
      expect(result.rows[0]).toBe('original');
      expect([png.width, png.height]).toEqual([4 * 30, 17 * 30 + 6 * 6]);
      expect([result.width, result.height]).toEqual([png.width, png.height]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
