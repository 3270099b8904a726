import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry, initBackend, loadFashionMnist, loadRun, subset, train } from '@ssl/core';
import type { tfl } from '@ssl/core';
import pretext, { evaluateRotationAccuracy } from '../index';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

describe('pretext:rotation exports', () => {
  it('saves its rotation head; the reloaded encoder and head score held-out rotations as the run did', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'ssl-rotation-export-'));
    const trainSet = await loadFashionMnist({ split: 'train', source: 'sample' });
    const test = subset(
      await loadFashionMnist({ split: 'test', source: 'sample' }),
      Array.from({ length: 200 }, (_, i) => i),
    );
    const result = await train({
      method: createRegistry().use(pretext()).create('pretext:rotation', { headHiddenLayers: 0 }),
      data: subset(
        trainSet,
        Array.from({ length: 512 }, (_, i) => i),
      ),
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16] },
      batchSize: 32,
      epochs: 3,
      seed: 0,
      outDir,
    });
    const reported = await evaluateRotationAccuracy(result.encoder, result.runtime.trainable.head as tfl.LayersModel, test);
    result.dispose();
    // Chance is 0.25; this seed reaches 0.394, so equal scores below mean the same networks.
    expect(reported).toBeGreaterThan(0.33);
    const run = await loadRun(outDir);
    try {
      expect(await evaluateRotationAccuracy(run.encoder!, run.network('head'), test)).toBe(reported);
    } finally {
      run.dispose();
    }
  });
});
