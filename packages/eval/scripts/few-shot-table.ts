/**
 * 5-way 1-shot and 5-shot on held-out Fashion-MNIST classes (issue 27, acceptance 3). Meta-training sees the
 * train split's classes 0–4 (T-shirt, trouser, pullover, dress, coat); every test episode is drawn from the
 * test split's classes 5–9 (sandal, shirt, sneaker, bag, ankle boot), 600 episodes of 15 queries per class,
 * the same episodes (same seed) for every row. Rows:
 *
 * - MAML (Finn et al. 2017), second order and first order, cross-entropy, and Prototypical Networks (Snell et
 *   al. 2017), all trained from scratch on pixels with one small strided CNN (tfjs has no second-order
 *   gradient through max pooling, so it downsamples by stride-2 convolutions);
 * - frozen features of a saved self-supervised encoder + a classifier fitted on each support set
 *   (`fewShotEval`: cosine nearest prototype, and logistic regression), with the same encoder spec at random
 *   init as the control, and raw pixels.
 *
 * Each configuration is one line of the JSONL (`--results`); a stopped run resumes with the missing ones.
 * Without `--config` the script runs every missing configuration, each in a child process of its own, one
 * after the other, then writes the table into the README. `--measure` times a few meta-iterations and
 * episodes of each trained configuration and stops; `--table` only writes the table from the results so far.
 * `--test-inner-steps N` changes MAML's adaptation steps at test (default 3), e.g. for one configuration written
 * to another results file.
 *
 *   node --conditions=@ssl/source --import tsx packages/eval/scripts/few-shot-table.ts \
 *     --encoder /work/scratch-eval/barlow-twins-cnn-8ep --work /work/scratch-eval/active \
 *     --results packages/eval/docs/few-shot-fashion.jsonl --readme packages/eval/README.md
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend, loadFashionMnist } from '@ssl/core';
import type { Encoder, ImageDataset } from '@ssl/core';
import { fewShotEval } from '../src/few-shot';
import { evaluateMaml, mamlLearner, trainMaml } from '../src/maml';
import { evaluatePrototypical, trainPrototypicalNetwork } from '../src/prototypical-networks';
import { randomInitControl } from '../src/pretrain-and-compare';
import type { FeatureSet } from '../src/types';
import { appendJsonLine, cachedFeatures, elapsedSeconds, loadRunEncoder, readJsonLines, replaceReadmeSection } from './script-helpers';

const { values } = parseArgs({
  options: {
    encoder: { type: 'string' },
    work: { type: 'string' },
    results: { type: 'string' },
    readme: { type: 'string' },
    config: { type: 'string' },
    measure: { type: 'boolean', default: false },
    /** Only write the table from the JSONL as it is (missing configurations read 'not run'). */
    table: { type: 'boolean', default: false },
    'maml-iterations': { type: 'string', default: '100' },
    'protonet-episodes': { type: 'string', default: '400' },
    episodes: { type: 'string', default: '600' },
    'test-inner-steps': { type: 'string', default: '3' },
  },
});
if (!values.encoder || !values.work || !values.results) {
  throw new Error('few-shot-table: pass --encoder <run directory>, --work <scratch dir> and --results <file.jsonl>.');
}
const TRAIN_CLASSES = [0, 1, 2, 3, 4];
const TEST_CLASSES = [5, 6, 7, 8, 9];
const WAYS = 5;
const QUERIES = 15;
/** Query rows per class of a meta-training episode (Snell et al.'s Omniglot setting; 15 at test as usual). */
const TRAIN_QUERIES = 5;
const EPISODES = Number(values.episodes);
const EVAL_SEED = 600;
// MAML's Omniglot settings (Finn et al. 2017, §5.2; Omniglot is 28×28 greyscale like Fashion-MNIST): one
// inner SGD step of α = 0.4 in meta-training, more steps at test (3), Adam β = 1e-3 — with a meta-batch of 4
// episodes instead of 32 so that a CPU affords a few hundred meta-iterations. ProtoNet: Adam 1e-3, one
// episode per step (Snell et al. 2017).
const MAML = { innerLearningRate: 0.4, innerSteps: 1, testInnerSteps: 3, metaBatchSize: 4, metaLearningRate: 1e-3 };

type Kind =
  'maml' | 'fomaml' | 'protonet' | 'ssl-prototype' | 'ssl-logistic' | 'random-init-prototype' | 'random-init-logistic' | 'pixels-prototype';
const KINDS: readonly Kind[] = [
  'ssl-prototype',
  'ssl-logistic',
  'random-init-prototype',
  'random-init-logistic',
  'pixels-prototype',
  'protonet',
  'fomaml',
  'maml',
];
const LABELS: Record<Kind, string> = {
  maml: 'MAML (second order), trained on classes 0–4',
  fomaml: 'first-order MAML, trained on classes 0–4',
  protonet: 'Prototypical Network, trained on classes 0–4',
  'ssl-prototype': 'frozen Barlow Twins features + cosine prototype',
  'ssl-logistic': 'frozen Barlow Twins features + logistic regression',
  'random-init-prototype': 'same encoder at random init + cosine prototype (control)',
  'random-init-logistic': 'same encoder at random init + logistic regression (control)',
  'pixels-prototype': 'raw pixels + cosine prototype',
};

interface ResultLine {
  config: string;
  kind: Kind;
  shots: number;
  mean: number;
  ci95: number;
  std: number;
  episodes: number;
  /** What training it had: meta-iterations or episodes, and its wall time. */
  training?: { steps: number; seconds: number; finalLoss: number };
  seconds: number;
}

// Cheapest first, so a run stopped early has the frozen-feature rows.
const configurations = KINDS.flatMap((kind) => [1, 5].map((shots) => ({ config: `${kind}-${shots}shot`, kind, shots })));

if (values.table) {
  writeTable(readJsonLines<ResultLine>(values.results));
} else if (values.config === undefined && !values.measure) {
  // Every missing configuration in a process of its own, one at a time.
  for (const { config } of configurations) {
    if (readJsonLines<ResultLine>(values.results).some((line) => line.config === config)) continue;
    const child = spawnSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), '--config', config],
      {
        stdio: 'inherit',
      },
    );
    if (child.status !== 0) throw new Error(`few-shot-table: ${config} exited with ${child.status ?? child.signal}.`);
  }
  writeTable(readJsonLines<ResultLine>(values.results));
} else {
  await initBackend({ log: () => {} });
  const train = await loadFashionMnist({ split: 'train', source: 'full' });
  const test = await loadFashionMnist({ split: 'test', source: 'full' });
  if (values.measure) {
    await measure(train, test);
  } else {
    const configuration = configurations.find((c) => c.config === values.config);
    if (!configuration)
      throw new Error(`few-shot-table: unknown --config ${values.config}; one of ${configurations.map((c) => c.config).join(', ')}.`);
    const started = performance.now();
    const result = await runConfiguration(configuration.kind, configuration.shots, train, test);
    const line: ResultLine = {
      config: configuration.config,
      kind: configuration.kind,
      shots: configuration.shots,
      ...result,
      seconds: elapsedSeconds(started),
    };
    appendJsonLine(values.results, line);
    console.log(
      `${line.config}: ${(100 * line.mean).toFixed(2)} ± ${(100 * line.ci95).toFixed(2)} (${line.seconds} s${line.training ? `, ${line.training.steps} training steps in ${line.training.seconds} s` : ''})`,
    );
  }
}

/** Pixels / 255 of the rows whose label is in `classes`, as a feature set of 784-d rows (network inputs). */
function pixelsOf(dataset: ImageDataset, classes: readonly number[]): FeatureSet {
  const size = dataset.shape[0] * dataset.shape[1] * dataset.shape[2];
  const labels = dataset.labels as Int32Array;
  const rows: number[] = [];
  labels.forEach((label, row) => {
    if (classes.includes(label)) rows.push(row);
  });
  const features = new Float32Array(rows.length * size);
  rows.forEach((row, i) => {
    for (let p = 0; p < size; p++) features[i * size + p] = dataset.images[row * size + p] / 255;
  });
  return { features, dim: size, labels: Int32Array.from(rows, (row) => labels[row]) };
}

/**
 * The meta-learners' network: 3 × (conv 3×3 stride 2, 32 filters, batch norm, ReLU) — 28 → 14 → 7 → 4 —
 * flattened to 512 features. MAML's Conv4 (64 filters, max pooling) made small enough for a CPU and
 * differentiable twice in tfjs (strides instead of max pooling).
 */
function metaEncoder(seed: number): Encoder {
  const layers: tfl.layers.Layer[] = [];
  for (let block = 0; block < 3; block++) {
    layers.push(
      tfl.layers.conv2d({
        ...(block === 0 ? { inputShape: [28, 28, 1] } : {}),
        filters: 32,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        useBias: false,
        kernelInitializer: tfl.initializers.heNormal({ seed: seed + block }),
      }),
      tfl.layers.batchNormalization({}),
      tfl.layers.reLU(),
    );
  }
  layers.push(tfl.layers.flatten());
  const model = tfl.sequential({ layers });
  return {
    kind: 'conv3-stride2',
    inputShape: [28, 28, 1],
    featureDim: 512,
    model,
    features: (inputs, options) => model.apply(inputs, { training: options?.training ?? false }) as tf.Tensor2D,
  };
}

async function runConfiguration(
  kind: Kind,
  shots: number,
  train: ImageDataset,
  test: ImageDataset,
): Promise<Omit<ResultLine, 'config' | 'kind' | 'shots' | 'seconds'>> {
  const evaluation = { ways: WAYS, shots, queries: QUERIES, episodes: EPISODES, classes: TEST_CLASSES, seed: EVAL_SEED };
  if (kind === 'maml' || kind === 'fomaml') {
    const metaTrain = pixelsOf(train, TRAIN_CLASSES);
    const metaTest = pixelsOf(test, TEST_CLASSES);
    const encoder = metaEncoder(1);
    const learner = mamlLearner(encoder, WAYS, 1);
    const started = performance.now();
    const iterations = Number(values['maml-iterations']);
    const losses = await trainMaml(learner, metaTrain, {
      ways: WAYS,
      shots,
      queries: TRAIN_QUERIES,
      iterations,
      innerSteps: MAML.innerSteps,
      innerLearningRate: MAML.innerLearningRate,
      metaBatchSize: MAML.metaBatchSize,
      metaLearningRate: MAML.metaLearningRate,
      firstOrder: kind === 'fomaml',
      classes: TRAIN_CLASSES,
      inputShape: [28, 28, 1],
      seed: 1,
      onIteration: (iteration, loss) => {
        if ((iteration + 1) % 25 === 0)
          console.log(`${kind} ${shots}-shot iteration ${iteration + 1}: meta-loss ${loss.toFixed(3)} (${elapsedSeconds(started)} s)`);
      },
    });
    const training = { steps: iterations, seconds: elapsedSeconds(started), finalLoss: mean(losses.slice(-25)) };
    const result = await evaluateMaml(learner, metaTest, {
      ...evaluation,
      innerSteps: Number(values['test-inner-steps']),
      innerLearningRate: MAML.innerLearningRate,
      inputShape: [28, 28, 1],
    });
    learner.dispose();
    encoder.model.dispose();
    return { mean: result.mean, ci95: result.ci95, std: result.std, episodes: result.count, training };
  }
  if (kind === 'protonet') {
    const metaTrain = pixelsOf(train, TRAIN_CLASSES);
    const metaTest = pixelsOf(test, TEST_CLASSES);
    const encoder = metaEncoder(1);
    const started = performance.now();
    const episodes = Number(values['protonet-episodes']);
    // Snell et al. train with more ways than they test (e.g. 20 vs 5 on Omniglot); with 5 train classes 5 is all there is.
    const losses = await trainPrototypicalNetwork(encoder, metaTrain, {
      ways: WAYS,
      shots,
      queries: TRAIN_QUERIES,
      episodes,
      classes: TRAIN_CLASSES,
      inputShape: [28, 28, 1],
      seed: 1,
    });
    const training = { steps: episodes, seconds: elapsedSeconds(started), finalLoss: mean(losses.slice(-100)) };
    const result = await evaluatePrototypical(encoder, metaTest, { ...evaluation, inputShape: [28, 28, 1] });
    encoder.model.dispose();
    return { mean: result.mean, ci95: result.ci95, std: result.std, episodes: result.count, training };
  }
  const features = await frozenFeatures(kind, test);
  const result = await fewShotEval(features, { ...evaluation, classifier: kind.endsWith('logistic') ? 'logistic' : 'prototype' });
  return { mean: result.mean, ci95: result.ci95, std: result.std, episodes: result.count };
}

async function frozenFeatures(kind: Kind, test: ImageDataset): Promise<FeatureSet> {
  if (kind === 'pixels-prototype') return { ...pixelsOf(test, [...TRAIN_CLASSES, ...TEST_CLASSES]) };
  const { encoder: saved, kinds } = await loadRunEncoder(values.encoder as string);
  const representation = kind.startsWith('ssl') ? 'ssl' : 'random-init';
  const encoder = representation === 'ssl' ? saved : randomInitControl(saved, kinds);
  return cachedFeatures(encoder, test, join(values.work as string, `${representation}-test.f32`));
}

async function measure(train: ImageDataset, test: ImageDataset): Promise<void> {
  const metaTrain = pixelsOf(train, TRAIN_CLASSES);
  const metaTest = pixelsOf(test, TEST_CLASSES);
  for (const shots of [1, 5]) {
    for (const firstOrder of [false, true]) {
      const encoder = metaEncoder(1);
      const learner = mamlLearner(encoder, WAYS, 1);
      const common = { ways: WAYS, shots, queries: TRAIN_QUERIES, classes: TRAIN_CLASSES, inputShape: [28, 28, 1], seed: 1 } as const;
      await trainMaml(learner, metaTrain, { ...common, iterations: 1, ...MAML, firstOrder });
      let started = performance.now();
      await trainMaml(learner, metaTrain, { ...common, iterations: 3, ...MAML, firstOrder });
      const perIteration = (performance.now() - started) / 3;
      started = performance.now();
      await evaluateMaml(learner, metaTest, {
        ...common,
        classes: TEST_CLASSES,
        episodes: 5,
        innerSteps: MAML.testInnerSteps,
        innerLearningRate: MAML.innerLearningRate,
      });
      const perEpisode = (performance.now() - started) / 5;
      console.log(
        `${firstOrder ? 'fomaml' : 'maml'} ${shots}-shot: ${perIteration.toFixed(0)} ms / meta-iteration, ${perEpisode.toFixed(0)} ms / test episode`,
      );
      learner.dispose();
      encoder.model.dispose();
    }
    const encoder = metaEncoder(1);
    const common = { ways: WAYS, shots, queries: TRAIN_QUERIES, inputShape: [28, 28, 1], seed: 1 } as const;
    let started = performance.now();
    await trainPrototypicalNetwork(encoder, metaTrain, { ...common, classes: TRAIN_CLASSES, episodes: 10 });
    const perStep = (performance.now() - started) / 10;
    started = performance.now();
    await evaluatePrototypical(encoder, metaTest, { ...common, classes: TEST_CLASSES, episodes: 10 });
    console.log(
      `protonet ${shots}-shot: ${perStep.toFixed(0)} ms / episode step, ${((performance.now() - started) / 10).toFixed(0)} ms / test episode`,
    );
    encoder.model.dispose();
  }
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
}

function writeTable(lines: readonly ResultLine[]): void {
  const cell = (kind: Kind, shots: number) => {
    const line = lines.find((l) => l.kind === kind && l.shots === shots);
    return line ? `${(100 * line.mean).toFixed(1)} ± ${(100 * line.ci95).toFixed(1)}` : 'not run';
  };
  const training = (kind: Kind) => {
    const runs = lines.filter((l) => l.kind === kind && l.training);
    return runs.length === 0
      ? '—'
      : runs.map((l) => `${l.shots}-shot: ${l.training?.steps} in ${Math.round((l.training?.seconds ?? 0) / 60)} min`).join('; ');
  };
  const order: Kind[] = [
    'maml',
    'fomaml',
    'protonet',
    'ssl-prototype',
    'ssl-logistic',
    'random-init-prototype',
    'random-init-logistic',
    'pixels-prototype',
  ];
  const table = [
    '| method | 5-way 1-shot | 5-way 5-shot | meta-training |',
    '| --- | --- | --- | --- |',
    ...order.map((kind) => `| ${LABELS[kind]} | ${cell(kind, 1)} | ${cell(kind, 5)} | ${training(kind)} |`),
  ].join('\n');
  console.log(`\n${table}\n`);
  if (values.readme) {
    replaceReadmeSection(
      values.readme,
      'few-shot-fashion',
      `Test accuracy (%) on ${EPISODES} episodes of the test split's classes 5–9, ${QUERIES} queries per class, mean ± 95% CI (1.96 · std / √${EPISODES}); chance is 20%. Meta-training: meta-iterations (MAML, 4 episodes each) or episodes (ProtoNet), and their wall time on the shared machine.\n\n${table}`,
    );
  }
}
