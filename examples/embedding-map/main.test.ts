import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { runEmbeddingMapExample } from './main';

const dir = mkdtempSync(join(tmpdir(), 'embedding-map-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('embedding-map example', () => {
  it('writes a PNG and an SVG for a few points of the bundled Fashion-MNIST sample', async () => {
    const out = join(dir, 'map.png');
    const result = await runEmbeddingMapExample({ sample: 80, out, source: 'sample', seed: 1 });
    expect(result.points).toBe(80);
    const png = PNG.sync.read(readFileSync(out));
    expect(png.width).toBeGreaterThan(100);
    expect(existsSync(join(dir, 'map.svg'))).toBe(true);
    expect(readFileSync(join(dir, 'map.svg'), 'utf8').match(/<circle /g)?.length).toBe(80);
  });
});
