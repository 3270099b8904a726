/**
 * Scores features written by `simclr_peer.py` (a PyTorch SimCLR run: its trained network and the same network at
 * initialisation) with @ssl's evaluation protocol (`EVALUATION_PROTOCOL`: kNN k = 200 with exp(cos/0.07) votes,
 * the all-labels linear probe, the 10-labels-per-class probe over 5 label subsets), so that the peer's figures and
 * `reduced-budget.ts`'s are read out by the same code. Appends one JSON line per run to `--results`.
 *
 *   node --conditions=@ssl/source --import tsx packages/contrastive/scripts/score-peer-features.ts --dir /tmp/peer \
 *     [--name peer] [--results /tmp/ssl-peer.jsonl] [--seed 0]
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '@ssl/core';
import { EVALUATION_PROTOCOL, compareRepresentations } from '@ssl/eval';
import type { ComparisonRow, FeatureSet } from '@ssl/eval';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    name: { type: 'string', default: 'peer' },
    results: { type: 'string', default: '/tmp/ssl-peer.jsonl' },
    seed: { type: 'string', default: '0' },
  },
});
if (!values.dir) throw new Error('--dir is required: the directory simclr_peer.py wrote (meta.json, *.f32, *-labels.i32).');
const dir = values.dir;

interface PeerMeta {
  dim: number;
  trainCount: number;
  testCount: number;
  steps: number;
  trainSeconds: number;
  cpuMsPerStep: number;
  args: Record<string, unknown>;
}
const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as PeerMeta;

function readArray<A extends Float32Array | Int32Array>(file: string, View: new (buffer: ArrayBuffer) => A, count: number): A {
  const bytes = readFileSync(join(dir, file));
  const array = new View(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (array.length !== count) throw new Error(`${file}: ${array.length} values, expected ${count}.`);
  return array;
}

function featureSet(split: 'train' | 'test', tag: 'trained' | 'init'): FeatureSet {
  const count = split === 'train' ? meta.trainCount : meta.testCount;
  return {
    features: readArray(`${split}-${tag}.f32`, Float32Array, count * meta.dim),
    dim: meta.dim,
    labels: readArray(`${split}-labels.i32`, Int32Array, count),
  };
}

await initBackend({ backend: 'wasm', log: () => {} });
const seed = Number(values.seed);
// compareRepresentations reads `train` / `test` only for encoder candidates; these are features.
const unused = undefined as never;
const rows = await compareRepresentations({
  candidates: [
    { name: 'trained', features: { train: featureSet('train', 'trained'), test: featureSet('test', 'trained') } },
    { name: 'randomInit', features: { train: featureSet('train', 'init'), test: featureSet('test', 'init') } },
  ],
  train: unused,
  test: unused,
  knn: { ...EVALUATION_PROTOCOL.knn, k: Math.min(EVALUATION_PROTOCOL.knn.k, meta.trainCount) },
  linear: { ...EVALUATION_PROTOCOL.linear },
  fewLabels: {
    perClass: EVALUATION_PROTOCOL.fewLabels.perClass,
    seeds: Array.from({ length: EVALUATION_PROTOCOL.fewLabels.subsets }, (_, i) => seed + i),
    linear: { weightDecay: EVALUATION_PROTOCOL.fewLabels.weightDecay },
  },
});
const [trained, randomInit] = rows as [ComparisonRow, ComparisonRow];
const figure = (pick: (row: ComparisonRow) => number) => ({
  trained: pick(trained),
  randomInit: pick(randomInit),
  gain: pick(trained) - pick(randomInit),
});
const figures = {
  knn: figure((row) => row.knn),
  linear: figure((row) => row.linear),
  fewLabels: figure((row) => row.fewLabels?.linear?.mean ?? Number.NaN),
};
appendFileSync(
  values.results!,
  `${JSON.stringify({ name: values.name, steps: meta.steps, trainSeconds: meta.trainSeconds, cpuMsPerStep: meta.cpuMsPerStep, args: meta.args, figures })}\n`,
);
const percent = (x: number) => (100 * x).toFixed(1);
console.log(
  `${values.name}: ${meta.steps} steps (${meta.cpuMsPerStep} CPU ms/step); ` +
    Object.entries(figures)
      .map(([key, f]) => `${key} ${percent(f.trained)} vs ${percent(f.randomInit)} (${percent(f.gain)})`)
      .join(', '),
);
