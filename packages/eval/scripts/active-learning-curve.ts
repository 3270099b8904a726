/**
 * Active learning on full Fashion-MNIST from a saved self-supervised encoder (issue 27, acceptance 2): every
 * acquisition strategy of `activeLearning` against random sampling, `--rounds` rounds of `--budget` labels,
 * `--seeds` seeds, on the encoder's frozen features (60 000 pool images, 10 000 test images). A control runs
 * random sampling on the same encoder spec at random init. Results go to a JSONL one (representation,
 * strategy, seed) per line, so a stopped run resumes where it was; when every line is there it writes the
 * table and the learning-curve PNG into the package README.
 *
 *   node --conditions=@ssl/source --import tsx packages/eval/scripts/active-learning-curve.ts \
 *     --encoder /work/scratch-eval/barlow-twins-cnn-8ep --work /work/scratch-eval/active \
 *     --results packages/eval/docs/active-learning-fashion.jsonl --png packages/eval/docs/active-learning-fashion.png \
 *     --readme packages/eval/README.md
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, loadFashionMnist } from '@ssl/core';
import { ACQUISITION_STRATEGIES, activeLearning } from '../src/active-learning';
import type { AcquisitionStrategy } from '../src/active-learning';
import { randomInitControl } from '../src/pretrain-and-compare';
import { summarize } from '../src/statistics';
import type { FeatureSet } from '../src/types';
import { lineChartPng } from '../src/line-chart';
import {
  appendJsonLine,
  cachedFeatures,
  elapsedSeconds,
  loadRunEncoder,
  percent,
  readJsonLines,
  replaceReadmeSection,
} from './script-helpers';

const { values } = parseArgs({
  options: {
    encoder: { type: 'string' },
    work: { type: 'string' },
    results: { type: 'string' },
    png: { type: 'string' },
    readme: { type: 'string' },
    budget: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '10' },
    seeds: { type: 'string', default: '3' },
  },
});
if (!values.encoder || !values.work || !values.results) {
  throw new Error('active-learning-curve: pass --encoder <run directory>, --work <scratch dir> and --results <file.jsonl>.');
}
const budget = Number(values.budget);
const rounds = Number(values.rounds);
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i);

type Representation = 'ssl' | 'random-init';
interface CurveLine {
  representation: Representation;
  strategy: AcquisitionStrategy;
  seed: number;
  labeled: number[];
  accuracy: number[];
  seconds: number;
}

await initBackend({ log: () => {} });
const { encoder: sslEncoder, kinds } = await loadRunEncoder(values.encoder);
const train = await loadFashionMnist({ split: 'train', source: 'full' });
const test = await loadFashionMnist({ split: 'test', source: 'full' });
const features = new Map<Representation, { pool: FeatureSet; test: FeatureSet }>();
async function featuresOf(representation: Representation) {
  const known = features.get(representation);
  if (known) return known;
  const encoder = representation === 'ssl' ? sslEncoder : randomInitControl(sslEncoder, kinds);
  const started = performance.now();
  const sets = {
    pool: await cachedFeatures(encoder, train, join(values.work as string, `${representation}-train.f32`)),
    test: await cachedFeatures(encoder, test, join(values.work as string, `${representation}-test.f32`)),
  };
  console.log(`${representation} features: ${elapsedSeconds(started)} s`);
  features.set(representation, sets);
  return sets;
}

const plan: { representation: Representation; strategy: AcquisitionStrategy }[] = [
  ...ACQUISITION_STRATEGIES.map((strategy) => ({ representation: 'ssl' as const, strategy })),
  { representation: 'random-init', strategy: 'random' },
];
const done = readJsonLines<CurveLine>(values.results);
for (const { representation, strategy } of plan) {
  for (const seed of seeds) {
    if (done.some((line) => line.representation === representation && line.strategy === strategy && line.seed === seed)) continue;
    const { pool, test: testSet } = await featuresOf(representation);
    const started = performance.now();
    const result = await activeLearning({
      pool,
      test: testSet,
      numClasses: 10,
      strategy,
      budget,
      rounds,
      seed,
      oracle: (indices) => indices.map((index) => pool.labels[index]),
    });
    const line: CurveLine = {
      representation,
      strategy,
      seed,
      labeled: result.rounds.map((r) => r.labeled),
      accuracy: result.rounds.map((r) => r.testAccuracy as number),
      seconds: elapsedSeconds(started),
    };
    appendJsonLine(values.results, line);
    done.push(line);
    console.log(
      `${representation} ${strategy} seed ${seed}: ${line.accuracy.map((a) => (100 * a).toFixed(1)).join(' ')} (${line.seconds} s)`,
    );
  }
}

const curves = plan.map(({ representation, strategy }) => {
  const lines = done.filter((line) => line.representation === representation && line.strategy === strategy);
  const name = representation === 'ssl' ? strategy : `random, random-init encoder`;
  const cells = lines[0].labeled.map((_, round) => summarize(lines.map((line) => line.accuracy[round])));
  return { name, representation, strategy, labeled: lines[0].labeled, cells, seeds: lines.length };
});
const header = `| strategy | ${curves[0].labeled.map((n) => `${n}`).join(' | ')} |`;
const table = [
  header,
  `| --- | ${curves[0].labeled.map(() => '---').join(' | ')} |`,
  ...curves.map((c) => `| ${c.name} | ${c.cells.map((s) => percent(s.mean, s.std)).join(' | ')} |`),
].join('\n');
const random = curves.find((c) => c.representation === 'ssl' && c.strategy === 'random');
const last = (c: (typeof curves)[number]) => c.cells[c.cells.length - 1];
const verdicts = curves
  .filter((c) => c.representation === 'ssl' && c.strategy !== 'random')
  .map((c) => {
    const gain = last(c).mean - last(random as (typeof curves)[number]).mean;
    const largerStd = Math.max(last(c).std, last(random as (typeof curves)[number]).std);
    return { strategy: c.strategy, gain, largerStd, beats: gain > largerStd };
  });
console.log(`\n${table}\n`);
for (const v of verdicts) {
  console.log(
    `${v.strategy}: ${v.gain >= 0 ? '+' : ''}${(100 * v.gain).toFixed(1)} points over random at ${budget * rounds} labels; larger std ${(100 * v.largerStd).toFixed(1)} → ${v.beats ? 'beats' : 'does not beat'} random`,
  );
}
if (values.png) {
  writeFileSync(
    values.png,
    lineChartPng(
      curves.map((c) => ({
        name: c.representation === 'ssl' ? c.strategy : 'random, random-init enc.',
        x: c.labeled,
        mean: c.cells.map((s) => s.mean),
        spread: c.cells.map((s) => s.std),
      })),
      { title: `Active learning, Fashion-MNIST, Barlow Twins features, ${seeds.length} seeds`, xLabel: 'labels', yLabel: 'test top-1 %' },
    ),
  );
}
if (values.readme) {
  const winners = verdicts.filter((v) => v.beats);
  const verdict =
    winners.length > 0
      ? `At ${budget * rounds} labels ${winners.map((w) => `${w.strategy} (+${(100 * w.gain).toFixed(1)} points, larger std ${(100 * w.largerStd).toFixed(1)})`).join(', ')} beat${winners.length === 1 ? 's' : ''} random sampling by more than the seeds' std.`
      : `At ${budget * rounds} labels no strategy beats random sampling by more than the seeds' std (${verdicts.map((v) => `${v.strategy} ${v.gain >= 0 ? '+' : ''}${(100 * v.gain).toFixed(1)}`).join(', ')} points).`;
  replaceReadmeSection(
    values.readme,
    'active-learning-fashion',
    `Test top-1 (%) after each round, mean ± std over seeds ${seeds.join(', ')}; columns are labels so far.\n\n${table}\n\n${verdict}`,
  );
}
