import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, initBackend, labeledSplit, loadFashionMnist, loadRun, subset, train } from '@ssl/core';
import semisup from '../index';
import { accuracyOnTestSample } from './fixtures/test-accuracy';

// Single-threaded wasm here and in the child: the same numbers in both processes.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

const TEST_IMAGES = 500;

describe('semisup:fixmatch exports', () => {
  it("a finished run's classifier is reloaded in a separate process and reproduces its test accuracy", async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'ssl-fixmatch-export-'));
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const result = await train({
      method: createRegistry().use(semisup()).create('semisup:fixmatch', { unlabeledRatio: 3, threshold: 0.7 }),
      data: labeledSplit(
        subset(
          trainSet,
          Array.from({ length: 1024 }, (_, i) => i),
        ),
        { perClass: 10, seed: 0 },
      ),
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
      batchSize: 16,
      epochs: 2,
      seed: 0,
      outDir,
    });
    const reported = {
      ema: await accuracyOnTestSample(result.runtime, TEST_IMAGES, 'ema'),
      student: await accuracyOnTestSample(result.runtime, TEST_IMAGES, 'student'),
    };
    result.dispose();
    console.log(
      `FixMatch after ${result.steps} steps: EMA ${(100 * reported.ema.accuracy).toFixed(1)}%, student ${(100 * reported.student.accuracy).toFixed(1)}% (chance 10%)`,
    );
    // A classifier that learned (chance is 10%; this seed reaches 27.4% with 10 labels per class), so equal
    // predictions below mean the same networks, not two that both answer one constant class.
    expect(reported.ema.accuracy).toBeGreaterThan(0.2);
    expect(new Set(reported.ema.predictions).size).toBeGreaterThanOrEqual(5);

    const run = await loadRun(outDir);
    expect(Object.keys(run.products).sort()).toEqual(['classifier', 'studentClassifier', 'studentEncoder']);
    expect(await accuracyOnTestSample(run, TEST_IMAGES, 'ema')).toEqual(reported.ema);
    run.dispose();

    const child = join(import.meta.dirname, 'fixtures', 'classify-child.ts');
    const out = spawnSync(process.execPath, ['--conditions=@ssl/source', '--import', 'tsx', child, outDir, String(TEST_IMAGES)], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(out.status, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout.trim().split('\n').at(-1)!)).toEqual(reported);
  });
});
