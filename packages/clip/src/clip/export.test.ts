import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, initBackend, loadFashionMnist, loadRun, subset, train } from '@ssl/core';
import clipPlugin, { clipModelFromRun, clipModelOf, fashionMnistPairs } from '../index';
import { zeroShotOnTestSample } from './fixtures/zero-shot-eval';

// Single-threaded wasm here and in the child: the same numbers in both processes.
beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

const TEST_IMAGES = 500;

describe('clip:clip exports', () => {
  it('a finished run is reloaded in a separate process and classifies the test set zero-shot exactly as the run did', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'ssl-clip-export-'));
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const result = await train({
      method: createRegistry()
        .use(clipPlugin())
        .create('clip:clip', { embedDim: 16, text: { embedDim: 16, depth: 1, numHeads: 2, maxLength: 12, mlpRatio: 2, vocabLimit: 500 } }),
      data: fashionMnistPairs(
        subset(
          trainSet,
          Array.from({ length: 2048 }, (_, i) => i),
        ),
        0,
      ),
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
      batchSize: 64,
      epochs: 5,
      seed: 0,
      outDir,
    });
    const reported = await zeroShotOnTestSample(clipModelOf(result.runtime), TEST_IMAGES);
    result.dispose();
    // A run that learned (chance is 10%; this seed reaches 23.8%), so equal predictions below mean the same
    // model, not two models that both answer one constant class.
    expect(reported.accuracy).toBeGreaterThan(0.18);
    expect(new Set(reported.predictions).size).toBeGreaterThanOrEqual(3);
    console.log(`zero-shot top-1 after ${result.steps} steps: ${(100 * reported.accuracy).toFixed(1)}% (chance 10%)`);

    // In this process, from the files alone.
    const run = await loadRun(outDir);
    expect(Object.keys(run.products).sort()).toEqual(['imageProjection', 'logitScale', 'textEncoder', 'textProjection', 'tokenizer']);
    const reloaded = await zeroShotOnTestSample(clipModelFromRun(run), TEST_IMAGES);
    run.dispose();
    expect(reloaded).toEqual(reported);

    // In a fresh process (tsx, workspace sources): the same predictions, so the same accuracy.
    const child = join(import.meta.dirname, 'fixtures', 'zero-shot-child.ts');
    const out = spawnSync(process.execPath, ['--conditions=@ssl/source', '--import', 'tsx', child, outDir, String(TEST_IMAGES)], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(out.status, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout.trim().split('\n').at(-1)!)).toEqual(reported);
  });
});
