import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runRotationExample } from './main';

const dir = mkdtempSync(join(tmpdir(), 'rotation-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rotation-fashion-mnist example', () => {
  it('trains a few steps on the bundled sample and writes the three-row table and results.json', async () => {
    const result = await runRotationExample({
      data: 'sample',
      out: dir,
      epochs: 1,
      maxSteps: 3,
      batchSize: 16,
      channels: [8, 16],
      trainLimit: 200,
      testLimit: 100,
      labelSeeds: [0, 1],
      log: () => {},
    });
    expect(result.steps).toBe(3);
    expect(result.rows.map((r) => r.name)).toEqual(['RotNet encoder (trained)', 'Same encoder, random init', 'Raw pixels']);
    expect(result.rows[2].featureDim).toBe(784);
    expect(result.rows[0].rotationAccuracy).toBeGreaterThanOrEqual(0);
    for (const row of result.rows) {
      for (const value of [row.knnAll, row.linearAll, row.knn10PerClass.mean, row.linear10PerClass.mean]) {
        expect(value).toBeGreaterThan(0);
        expect(value).toBeLessThanOrEqual(1);
      }
    }
    expect(result.table.split('\n')).toHaveLength(5);
    expect(existsSync(join(dir, 'results.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).rows).toHaveLength(3);
  });
});
