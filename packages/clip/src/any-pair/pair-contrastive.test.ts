import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, createEncoder, createRegistry, definePlugin, initBackend, loadRun, train } from '@ssl/core';
import type { Encoder } from '@ssl/core';
import {
  groupedClipLoss,
  imageModality,
  pairContrastive,
  pairData,
  pairModelFromRun,
  pairModelOf,
  pairRetrieval,
  pairZeroShot,
  textModality,
} from '../index';
import type { Modality, PairData, PairModel } from '../index';
import { clipLoss } from '../losses/clip-loss';

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1, log: () => {} });
});

/*
 * A third party's modality, defined here as a user would: a time series given as a number array, read by a small
 * MLP. Twelve kinds of series (6 frequencies × 2 amplitudes, random phase and noise), each described by a phrase.
 */
const LENGTH = 32;
const FREQUENCIES = ['one', 'two', 'three', 'four', 'five', 'six'];
const AMPLITUDES = [
  ['faint', 0.3],
  ['strong', 1],
] as const;

const seriesModality: Modality<readonly number[]> = {
  name: 'series',
  description: `time series of ${LENGTH} values`,
  tower: ({ seed }) => ({ encoder: createEncoder({ kind: 'mlp', inputDim: LENGTH, hidden: [64, 64], seed }), toInput }),
  restore: (encoder: Encoder) => ({ encoder, toInput }),
};
function toInput(samples: readonly (readonly number[])[]) {
  return tf.tensor2d(samples.flat(), [samples.length, LENGTH]);
}

function seriesPairs(perKind: number, seed: number): PairData<readonly number[], string> {
  const rng = new Random(seed);
  const first: number[][] = [];
  const second: string[] = [];
  const labels: number[] = [];
  for (let n = 0; n < perKind; n++) {
    FREQUENCIES.forEach((word, f) =>
      AMPLITUDES.forEach(([adjective, amplitude], a) => {
        const phase = 2 * Math.PI * rng.uniform();
        first.push(
          Array.from({ length: LENGTH }, (_, t) => amplitude * Math.sin((2 * Math.PI * (f + 1) * t) / LENGTH + phase) + 0.1 * rng.normal()),
        );
        second.push(`a ${adjective} wave of ${word} cycles`);
        labels.push(2 * f + a);
      }),
    );
  }
  return { name: `series-${seed}`, first, second, labels: Int32Array.from(labels) };
}

const textSide = textModality({ embedDim: 16, depth: 1, numHeads: 2, maxLength: 8, mlpRatio: 2, vocabLimit: 100 });
const seriesText = pairContrastive<readonly number[], string>({
  name: 'series-text',
  first: seriesModality,
  second: textSide,
  defaults: { embedDim: 16 },
});

const toyPlugin = () =>
  definePlugin({
    name: 'ssl-plugin-series',
    version: '0.1.0',
    family: 'series',
    core: '^0.1.0',
    methods: { 'series-text': seriesText },
    dataKinds: { 'modality-pairs': pairData },
  });

/** Mean recall@1 both ways over `sets` held-out sets of the 12 kinds (one unseen series per phrase: chance 1/12). */
function heldOutRecall(model: Parameters<typeof pairRetrieval>[0], sets: number): number {
  let total = 0;
  for (let s = 0; s < sets; s++) {
    const recall = pairRetrieval(model, seriesPairs(1, 1000 + s), [1]);
    total += (recall.firstToSecond[1] + recall.secondToFirst[1]) / 2;
  }
  return total / sets;
}

describe('pairContrastive: any two modalities', () => {
  it('groupedClipLoss is clipLoss when every group differs, and treats rows of one group as each other’s positives', () => {
    const a = tf.tensor2d([
      [1, 0],
      [0.8, 0.6],
      [0, 1],
    ]);
    const b = tf.tensor2d([
      [1, 0.1],
      [0.9, 0.5],
      [-0.2, 1],
    ]);
    expect(groupedClipLoss(a, b, 5, Int32Array.from([0, 1, 2])).dataSync()[0]).toBeCloseTo(clipLoss(a, b, 5).dataSync()[0], 6);
    // Plain-loop reference with rows 0 and 1 in one group: targets uniform over the group's columns (rows).
    const A = (a.arraySync() as number[][]).map((r) => r.map((v) => v / Math.hypot(...r)));
    const B = (b.arraySync() as number[][]).map((r) => r.map((v) => v / Math.hypot(...r)));
    const z = A.map((r) => B.map((c) => 5 * (r[0] * c[0] + r[1] * c[1])));
    const group = [0, 0, 1];
    const side = (logits: number[][]) =>
      logits.reduce((sum, row, i) => {
        const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
        const positives = row.flatMap((v, j) => (group[i] === group[j] ? [v] : []));
        return sum - positives.reduce((s, v) => s + (v - lse) / positives.length, 0);
      }, 0) / logits.length;
    const transposed = z[0].map((_, j) => z.map((row) => row[j]));
    const expected = (side(z) + side(transposed)) / 2;
    expect(groupedClipLoss(a, b, 5, Int32Array.from(group)).dataSync()[0]).toBeCloseTo(expected, 5);
    tf.dispose([a, b]);
  });

  it("pairZeroShot: 'mean' takes the class of the closest normalised prompt mean, 'nearest' the class of the closest prompt", () => {
    // Unit 2-d embeddings by angle: first samples are angles, second samples (prompts) too.
    const unit = (angles: readonly number[]) =>
      tf.tensor2d(
        angles.flatMap((a) => [Math.cos(a), Math.sin(a)]),
        [angles.length, 2],
      );
    const model = { embedFirst: unit, embedSecond: unit } as unknown as PairModel<number, number>;
    // Class 0: prompts at 0 and 2 rad (mean direction 1 rad); class 1: one prompt at 1.9 rad.
    const prompts = [[0, 2], [1.9]];
    const samples = [0.1, 1.05, 2.05];
    const reference = (pool: 'mean' | 'nearest') =>
      samples.map((x) => {
        const scores = prompts.map((p) =>
          pool === 'nearest'
            ? Math.max(...p.map((a) => Math.cos(x - a)))
            : Math.cos(
                x - Math.atan2(...([p.reduce((s, a) => s + Math.sin(a), 0), p.reduce((s, a) => s + Math.cos(a), 0)] as [number, number])),
              ),
        );
        return scores.indexOf(Math.max(...scores));
      });
    expect(Array.from(pairZeroShot(model, samples, prompts, { pool: 'mean' }))).toEqual(reference('mean'));
    expect(Array.from(pairZeroShot(model, samples, prompts, { pool: 'nearest' }))).toEqual(reference('nearest'));
    expect(reference('mean')).toEqual([0, 0, 1]);
    expect(reference('nearest')).toEqual([0, 1, 0]);
    expect(() => pairZeroShot(model, samples, [[0], []])).toThrow(/prompts/);
  });

  it('imageModality: byte images as float [0, 1] NHWC, the run’s image encoder; wrong sizes are refused', () => {
    const tower = imageModality([2, 2, 1]).restore(undefined as never, undefined);
    const input = tower.toInput([Uint8Array.from([0, 51, 102, 255]), [255, 0, 0, 255]]);
    expect(input.shape).toEqual([2, 2, 2, 1]);
    expect(Array.from(input.dataSync())).toEqual([0, 0.2, 0.4, 1, 1, 0, 0, 1].map((v) => expect.closeTo(v, 6)));
    input.dispose();
    expect(() => tower.toInput([Uint8Array.from([1, 2, 3])])).toThrow(/2×2×1/);
  });

  it('pairs a time-series modality defined by a third party with text: held-out retrieval far above chance, no leaked tensors per step, reloadable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ssl-series-text-'));
    const counts: number[] = [];
    const started = Date.now();
    const method = createRegistry()
      .use(toyPlugin())
      .create('series:series-text' as never);
    const result = await train({
      method,
      data: seriesPairs(25, 1),
      epochs: 20,
      batchSize: 60,
      seed: 3,
      outDir: dir,
      callbacks: [{ name: 'tensor-count', onStepEnd: () => void counts.push(tf.memory().numTensors) }],
    });
    try {
      const seconds = (Date.now() - started) / 1000;
      const model = pairModelOf<readonly number[], string>(result.runtime);
      const trained = heldOutRecall(model, 5);
      console.log(
        `series-text CI: held-out recall@1 ${(100 * trained).toFixed(1)}% (chance ${(100 / 12).toFixed(1)}%) after ${result.steps} steps in ${seconds.toFixed(1)} s; loss ${result.history[0].loss.toFixed(3)} → ${result.history.at(-1)!.loss.toFixed(3)}`,
      );
      expect(new Set(counts.slice(1)).size).toBe(1);
      expect(trained).toBeGreaterThan(0.5);
      // The run directory holds the whole model: the reloaded one embeds as the trained one does.
      const reloaded = await loadRun(dir);
      const again = pairModelFromRun(reloaded, { first: seriesModality, second: textSide });
      const probe = seriesPairs(1, 999);
      for (const [x, y] of [
        [model.embedFirst(probe.first), again.embedFirst(probe.first)],
        [model.embedSecond(probe.second), again.embedSecond(probe.second)],
      ]) {
        expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()).map((v) => expect.closeTo(v, 5)));
        tf.dispose([x, y]);
      }
      expect(again.logitScale()).toBeCloseTo(model.logitScale(), 5);
      again.logLogitScale.dispose();
      reloaded.dispose();
    } finally {
      result.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
