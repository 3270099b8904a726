import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { smallMlpEncoder } from './test-encoder';
import { halvesDataset } from './test-data';
import { formatTransferTable, transferEval } from './transfer';
import type { TrainableEncoder } from './fine-tune';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('transferEval', () => {
  it('scores frozen copies and fine-tunes a fresh copy per recipe, freeing every copy; fine-tuning learns the target', async () => {
    const train = halvesDataset(128, 1);
    const test = halvesDataset(64, 2);
    const loaded: TrainableEncoder[] = [];
    const freed: TrainableEncoder[] = [];
    const candidate = (name: string, seed: number) => ({
      name,
      load: () => {
        const encoder = smallMlpEncoder([8, 8, 1], 8, seed);
        loaded.push(encoder);
        return encoder;
      },
      dispose: (encoder: TrainableEncoder) => {
        freed.push(encoder);
        encoder.model.dispose();
      },
    });
    const tensorsBefore = tf.memory().numTensors;
    const rows = await transferEval({
      candidates: [candidate('source', 3), candidate('random init', 4)],
      train,
      test,
      fineTune: [
        { name: 'fine-tune', options: { epochs: 3, batchSize: 32, backboneLr: 1e-3 } },
        { name: 'fine-tune, layer decay 0.5', options: { epochs: 3, batchSize: 32, backboneLr: 1e-3, layerDecay: 0.5 } },
      ],
    });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    // One frozen copy and one per recipe, for each candidate; each freed once.
    expect(loaded).toHaveLength(6);
    expect(new Set(freed)).toEqual(new Set(loaded));
    expect(rows.map((row) => row.name)).toEqual(['source', 'random init']);
    for (const row of rows) {
      expect(row.fineTuned.map((f) => f.name)).toEqual(['fine-tune', 'fine-tune, layer decay 0.5']);
      // Bright left vs right half: separable, so end-to-end training gets it right.
      for (const fineTuned of row.fineTuned) expect(fineTuned.test.top1).toBeGreaterThan(0.9);
      expect(row.fineTuned[0].learningRates.map((block) => block.lr)).toEqual([1e-3]);
      expect(row.fineTuned[1].learningRates.map((block) => block.lr)).toEqual([5e-4, 1e-3]);
      expect(row.fewLabels?.linear?.mean).toBeGreaterThan(0);
    }
    const table = formatTransferTable(rows);
    expect(table.split('\n')[0]).toContain('fine-tune, layer decay 0.5');
    expect(table).toContain('| source ');
  });

  it('refuses an empty candidate list and unlabeled data', async () => {
    const data = halvesDataset(8, 1);
    await expect(transferEval({ candidates: [], train: data, test: data })).rejects.toThrow(/at least one candidate/);
    const unlabeled = { ...data, labels: undefined };
    await expect(
      transferEval({ candidates: [{ name: 'x', load: () => smallMlpEncoder([8, 8, 1], 8, 1) }], train: unlabeled, test: data }),
    ).rejects.toThrow(/labeled/);
  });
});
