// A CI-sized learning curve on Fashion-MNIST: a random-init CNN's features (no labels used to make them),
// 5 rounds × 10 labels, 3 seeds, every strategy against random sampling on the same features.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACQUISITION_STRATEGIES, activeLearning } from './active-learning';
import { extractFeatures } from './extract-features';
import { summarize } from './statistics';
import { FASHION_MNIST_DIR, fashionMnistAvailable, readFashionMnist } from './test-data';
import { smallCnnEncoder } from './test-encoder';
import type { LabeledImageDataset } from './types';

const available = fashionMnistAvailable();
if (!available) console.log(`Skipping the active-learning curve: no Fashion-MNIST IDX files in ${FASHION_MNIST_DIR}.`);

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

function head(set: LabeledImageDataset, start: number, size: number): LabeledImageDataset {
  const pixels = set.shape[0] * set.shape[1] * set.shape[2];
  return {
    ...set,
    images: set.images.subarray(start * pixels, (start + size) * pixels),
    labels: set.labels?.subarray(start, start + size),
    size,
  };
}

describe.skipIf(!available)('active learning on Fashion-MNIST (CI size)', () => {
  it('learning curves of every strategy vs random, 5 rounds × 10 labels, 3 seeds', { timeout: 300_000 }, async () => {
    const started = performance.now();
    const encoder = smallCnnEncoder([28, 28, 1], 64, 7);
    const pool = await extractFeatures(encoder, head(readFashionMnist('train'), 0, 3000));
    const test = await extractFeatures(encoder, head(readFashionMnist('test'), 0, 1000));
    encoder.model.dispose();
    const curves = new Map<string, number[][]>();
    for (const strategy of ACQUISITION_STRATEGIES) {
      const perSeed: number[][] = [];
      for (const seed of [0, 1, 2]) {
        const result = await activeLearning({
          pool,
          test,
          numClasses: 10,
          strategy,
          budget: 10,
          rounds: 5,
          seed,
          oracle: (indices) => indices.map((i) => pool.labels[i]),
        });
        perSeed.push(result.rounds.map((r) => r.testAccuracy as number));
      }
      curves.set(strategy, perSeed);
    }
    const rows = [...curves].map(([strategy, perSeed]) => {
      const cells = perSeed[0].map((_, round) => summarize(perSeed.map((curve) => curve[round])));
      return { strategy, cells };
    });
    console.log(
      ['| strategy | ' + [10, 20, 30, 40, 50].map((n) => `${n} labels`).join(' | ') + ' |', '|---|---|---|---|---|---|']
        .concat(
          rows.map(
            (r) => `| ${r.strategy} | ${r.cells.map((c) => `${(100 * c.mean).toFixed(1)} ± ${(100 * c.std).toFixed(1)}`).join(' | ')} |`,
          ),
        )
        .join('\n'),
    );
    console.log(`active-learning curve: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const final = (strategy: string) => rows.find((r) => r.strategy === strategy)?.cells[4].mean as number;
    // Every curve learns: with 50 labels each beats chance (10%) by at least 2.5×. Measured here
    // (README): at this budget random sampling is the best curve (47.4%), core-set the worst (32.6%) —
    // the cold-start regime where uncertainty and outlier-seeking acquisitions lose to random (Hacohen et
    // al. 2022), so no strategy-beats-random claim is asserted.
    for (const strategy of ACQUISITION_STRATEGIES) expect(final(strategy)).toBeGreaterThan(0.25);
    expect(final('random')).toBeGreaterThan(0.35);
  });
});
