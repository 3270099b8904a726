import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseRotationArgs, runRotationExample } from './main';

const dir = mkdtempSync(join(tmpdir(), 'rotation-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rotation-fashion-mnist example', () => {
  it('trains a few steps on the bundled sample and prints each figure beside its random-init control, plus rotation accuracy', async () => {
    const options = parseRotationArgs([
      '--data',
      'sample',
      '--out',
      dir,
      '--epochs',
      '1',
      '--batch-size',
      '16',
      '--channels',
      '8,16',
      '--train-limit',
      '200',
      '--test-limit',
      '100',
      '--head-input',
      'pooled',
    ]);
    expect(options.method).toEqual({ headInput: 'pooled' });
    const result = await runRotationExample({ ...options, maxSteps: 3, log: () => {} });
    expect(result.steps).toBe(3);
    expect(result.results.rawPixels.featureDim).toBe(784);
    expect(result.results.trained.featureDim).toBe(16);
    expect(result.rotationAccuracy).toBeGreaterThanOrEqual(0);
    for (const scores of Object.values(result.results)) {
      for (const value of [scores.knn, scores.linear, scores.fewLabels.mean]) {
        expect(value).toBeGreaterThan(0);
        expect(value).toBeLessThanOrEqual(1);
      }
    }
    // The encoder's figures (header, rule, 3 rows), then the method's own task on held-out images.
    const [encoderTable, ownTask] = result.table.split('\n\n');
    expect(encoderTable.split('\n')).toHaveLength(5);
    expect(ownTask).toContain("the method's own task, held-out data");
    expect(existsSync(join(dir, 'results.json'))).toBe(true);
    const written = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    expect(written.results.randomInit.knn).toBe(result.results.randomInit.knn);
    expect(written.extra.rotationAccuracy).toBe(result.rotationAccuracy);
  });
});
