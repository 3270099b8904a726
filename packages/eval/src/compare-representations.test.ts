import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareRepresentations, formatComparisonTable } from './compare-representations';
import type { ComparisonRow } from './compare-representations';
import { extractFeatures, flattenEncoder } from './extract-features';
import { knnClassify } from './knn';
import { labelFractionEval } from './label-fractions';
import { linearProbe } from './linear-probe';
import { halvesDataset } from './test-data';
import type { FeatureEncoder } from './types';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

/** Only the top-left 2×2 pixels: a weaker representation than all 64. */
const cornerEncoder: FeatureEncoder = {
  features: (inputs) =>
    tf.tidy(() => tf.reshape(tf.slice(inputs as tf.Tensor4D, [0, 0, 0, 0], [-1, 2, 2, 1]), [inputs.shape[0], 4]) as tf.Tensor2D),
};

describe('compareRepresentations', () => {
  // Faint halves under heavy noise, so that no score is trivially 1.
  const levels = { bright: 50, dark: 0, noise: 200 };
  const train = halvesDataset(120, 1, levels);
  const test = halvesDataset(60, 2, levels);

  it('gives each candidate the scores of extractFeatures + knnClassify / linearProbe / labelFractionEval, in order', async () => {
    const seen: string[] = [];
    const rows = await compareRepresentations({
      candidates: [
        { name: 'pixels', encoder: flattenEncoder() },
        { name: 'corner', encoder: cornerEncoder },
      ],
      train,
      test,
      knn: { k: 20 },
      linear: { weightDecay: 1e-3 },
      fewLabels: { perClass: 3, seeds: [0, 1, 2], methods: ['knn', 'linear'], linear: { weightDecay: 1e-1 } },
      onRow: (row, seconds) => {
        expect(seconds).toBeGreaterThanOrEqual(0);
        seen.push(row.name);
      },
    });
    expect(seen).toEqual(['pixels', 'corner']);
    expect(rows.map((row) => [row.name, row.featureDim])).toEqual([
      ['pixels', 64],
      ['corner', 4],
    ]);

    for (const [row, encoder] of [
      [rows[0], flattenEncoder()],
      [rows[1], cornerEncoder],
    ] as const) {
      const trainFeatures = await extractFeatures(encoder, train);
      const testFeatures = await extractFeatures(encoder, test);
      expect(row.knn).toBe((await knnClassify(trainFeatures, testFeatures, { k: 20 })).top1);
      expect(row.linear).toBe((await linearProbe(trainFeatures, testFeatures, { weightDecay: 1e-3 })).top1);
      const [fewKnn] = await labelFractionEval(trainFeatures, testFeatures, {
        perClass: [3],
        seeds: [0, 1, 2],
        method: 'knn',
        knn: { k: 20 },
      });
      const [fewLinear] = await labelFractionEval(trainFeatures, testFeatures, {
        perClass: [3],
        seeds: [0, 1, 2],
        method: 'linear',
        linear: { weightDecay: 1e-1 },
      });
      expect(row.fewLabels).toEqual({
        perClass: 3,
        seeds: 3,
        knn: { mean: fewKnn.top1.mean, std: fewKnn.top1.std },
        linear: { mean: fewLinear.top1.mean, std: fewLinear.top1.std },
      });
    }
    // The 64-pixel view separates the halves; the 2×2 corner sees one side only and is much weaker.
    expect(rows[0].linear).toBeGreaterThan(0.9);
    expect(rows[1].linear).toBeLessThan(rows[0].linear - 0.15);
  });

  it('scores precomputed features like the encoder they came from, without few-label columns unless asked', async () => {
    const features = { train: await extractFeatures(flattenEncoder(), train), test: await extractFeatures(flattenEncoder(), test) };
    const before = tf.memory().numTensors;
    const [fromEncoder, fromFeatures] = await compareRepresentations({
      candidates: [
        { name: 'encoder', encoder: flattenEncoder() },
        { name: 'features', features },
      ],
      train,
      test,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(fromFeatures.knn).toBe(fromEncoder.knn);
    expect(fromFeatures.linear).toBe(fromEncoder.linear);
    expect(fromEncoder.fewLabels).toBeUndefined();
  });

  it('rejects an empty candidate list and an empty seed list', async () => {
    await expect(compareRepresentations({ candidates: [], train, test })).rejects.toThrow(/at least one candidate/);
    await expect(
      compareRepresentations({ candidates: [{ name: 'pixels', encoder: flattenEncoder() }], train, test, fewLabels: { seeds: [] } }),
    ).rejects.toThrow(/seeds is empty/);
  });
});

describe('formatComparisonTable', () => {
  const rows: (ComparisonRow & { extra?: number })[] = [
    {
      name: 'trained',
      featureDim: 8,
      knn: 0.8123,
      linear: 0.85,
      fewLabels: { perClass: 10, seeds: 5, linear: { mean: 0.7, std: 0.013 } },
      extra: 0.5,
    },
    {
      name: 'raw pixels',
      featureDim: 784,
      knn: 0.856,
      linear: 0.8449,
      fewLabels: { perClass: 10, seeds: 5, linear: { mean: 0.66, std: 0.02 } },
    },
  ];

  it('prints percent with one decimal and mean ± std, with default headers from the rows', () => {
    expect(formatComparisonTable(rows)).toBe(
      [
        '| Representation | kNN, all labels | Linear, all labels | Linear, 10 labels/class (5 seeds) |',
        '|---|---|---|---|',
        '| trained | 81.2 | 85.0 | 70.0 ± 1.3 |',
        '| raw pixels | 85.6 | 84.5 | 66.0 ± 2.0 |',
      ].join('\n'),
    );
  });

  it('takes header overrides and extra columns', () => {
    const table = formatComparisonTable(rows, {
      headers: { name: 'features', knn: 'kNN (k=200)' },
      extraColumns: [{ header: 'extra', cell: (row) => (row.extra === undefined ? '—' : String(row.extra)) }],
    });
    expect(table.split('\n')).toEqual([
      '| features | kNN (k=200) | Linear, all labels | Linear, 10 labels/class (5 seeds) | extra |',
      '|---|---|---|---|---|',
      '| trained | 81.2 | 85.0 | 70.0 ± 1.3 | 0.5 |',
      '| raw pixels | 85.6 | 84.5 | 66.0 ± 2.0 | — |',
    ]);
  });
});
