/**
 * Scores every stage of a saved CNN encoder, not only the last: the globally average-pooled output of stage 1, 2, …
 * (and all of them concatenated), for the encoder and for the same spec and seed at random init, with the shared
 * runner's protocol (`EVALUATION_PROTOCOL` through `compareRepresentations`, as `compareWithControls` applies it:
 * kNN k = 200, the all-labels linear probe, 10 labels per class over 5 label draws from `--seed`). The last stage
 * is what `encoder.features` returns, so its row is what `pretrainAndCompare` reports; the script checks that.
 * Pretext features are often most transferable at intermediate layers (Kolesnikov et al. 2019, Goyal et al. 2019,
 * who probe per layer), which the shared runner does not look at.
 *
 *   node --conditions=@ssl/source --import tsx packages/cli/scripts/stage-readout.ts --encoder /tmp/jigsaw-s0 \
 *     --name jigsaw-s0 [--eval-train-limit 10000] [--test-limit 5000] [--seed 0] [--results /tmp/ssl-stages.jsonl] [--no-concatenated]
 *
 * `--encoder` is a directory written by `saveEncoder` (e.g. `reduced-budget.ts --save-encoder`); `--seed` is the
 * run's seed, which `pretrainAndCompare` also uses as the first label draw.
 */
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { SslError, createEncoder, initBackend, loadEncoder, loadFashionMnist } from '@ssl/core';
import type { Encoder } from '@ssl/core';
import { EVALUATION_PROTOCOL, compareRepresentations, extractFeatures } from '@ssl/eval';
import type { FeatureSet, ComparisonRow } from '@ssl/eval';
import { firstImages } from './first-images';

const { values } = parseArgs({
  options: {
    encoder: { type: 'string' },
    name: { type: 'string', default: 'run' },
    'eval-train-limit': { type: 'string', default: '10000' },
    'test-limit': { type: 'string', default: '10000' },
    seed: { type: 'string', default: '0' },
    results: { type: 'string', default: '/tmp/ssl-stages.jsonl' },
    // Skip the all-stages rows: their linear probes cost about as much as the three stages together.
    'no-concatenated': { type: 'boolean', default: false },
  },
});
if (!values.encoder) throw new SslError('invalid-config', 'stage-readout needs --encoder DIR (a directory written by saveEncoder).');

/**
 * The pooled output of every stage, side by side in one [N, sum of channels] tensor: one forward pass serves every
 * stage. Core's CNN is a chain of layers where each stage after the first starts with max-pooling and the last
 * ends in global average pooling, so a stage's output is what enters the next max-pooling (or the global pooling).
 */
function pooledStages(encoder: Encoder): { features: (inputs: tf.Tensor4D) => tf.Tensor2D; widths: number[] } {
  if (encoder.kind !== 'cnn') throw new SslError('invalid-config', `stage-readout reads core's 'cnn' encoder only, got '${encoder.kind}'.`);
  const layers = encoder.model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  const widths = (encoder as Encoder & { spec: { channels?: number[] } }).spec.channels ?? [32, 64, 128];
  const features = (inputs: tf.Tensor4D) =>
    tf.tidy(() => {
      const pooled: tf.Tensor2D[] = [];
      let x: tf.Tensor = inputs;
      for (const layer of layers) {
        const className = layer.getClassName();
        if (className === 'MaxPooling2D' || className === 'GlobalAveragePooling2D') pooled.push(tf.mean(x, [1, 2]) as tf.Tensor2D);
        if (className === 'GlobalAveragePooling2D') break;
        x = layer.apply(x, { training: false }) as tf.Tensor;
      }
      if (pooled.length !== widths.length) {
        throw new SslError('shape-mismatch', `Found ${pooled.length} stage outputs in the model, expected ${widths.length}.`);
      }
      return tf.concat(pooled, 1) as tf.Tensor2D;
    });
  return { features, widths };
}

/** Columns [from, from + width) of a feature set. */
function columns(set: FeatureSet, from: number, width: number): FeatureSet {
  const rows = set.labels.length;
  const features = new Float32Array(rows * width);
  for (let row = 0; row < rows; row++) features.set(set.features.subarray(row * set.dim + from, row * set.dim + from + width), row * width);
  return { features, dim: width, labels: set.labels };
}

await initBackend({ backend: 'wasm', log: () => {} });
const fullTrain = await loadFashionMnist({ split: 'train', source: 'auto' });
const evalTrain = firstImages(fullTrain, Number(values['eval-train-limit']));
const test = firstImages(await loadFashionMnist({ split: 'test', source: 'auto' }), Number(values['test-limit']));
const seed = Number(values.seed);

const trained = (await loadEncoder(values.encoder)) as Encoder;
const randomInit = createEncoder((trained as Encoder & { spec: Parameters<typeof createEncoder>[0] }).spec) as Encoder;

// The last stage's pooled output must be encoder.features (which extractFeatures reads with batch norm folded), or
// the rows below would not be the shared runner's figures.
const [height, width, channels] = test.shape;
const probe = tf.tidy(
  () =>
    tf
      .tensor4d(Float32Array.from(test.images.subarray(0, 64 * height * width * channels)), [64, height, width, channels])
      .div(255) as tf.Tensor4D,
);
for (const encoder of [trained, randomInit]) {
  const { features, widths } = pooledStages(encoder);
  const last = tf.tidy(() => tf.slice(features(probe), [0, widths.slice(0, -1).reduce((a, b) => a + b, 0)], [-1, widths.at(-1)!]));
  const reference = encoder.features(probe, { training: false });
  const difference = tf.tidy(() => tf.max(tf.abs(tf.sub(last, reference))).dataSync()[0]);
  tf.dispose([last, reference]);
  if (!(difference < 1e-4))
    throw new SslError('shape-mismatch', `The last stage's pooled output differs from encoder.features by ${difference}.`);
}
probe.dispose();

type Candidate = { name: string; features: { train: FeatureSet; test: FeatureSet } };
/** One candidate per stage of `encoder`, and all its stages concatenated. */
const candidatesOf = async (label: string, encoder: Encoder): Promise<{ stages: Candidate[]; concatenated: Candidate }> => {
  const { features, widths } = pooledStages(encoder);
  const stagesEncoder = { features: (inputs: tf.Tensor4D | tf.Tensor2D) => features(inputs as tf.Tensor4D) };
  const all = { train: await extractFeatures(stagesEncoder, evalTrain), test: await extractFeatures(stagesEncoder, test) };
  const offsets = widths.map((_, stage) => widths.slice(0, stage).reduce((a, b) => a + b, 0));
  return {
    stages: widths.map((width, stage) => ({
      name: `${label}, stage ${stage + 1}`,
      features: { train: columns(all.train, offsets[stage], width), test: columns(all.test, offsets[stage], width) },
    })),
    concatenated: { name: `${label}, stages 1-${widths.length}`, features: all },
  };
};
const trainedCandidates = await candidatesOf('trained', trained);
const randomInitCandidates = await candidatesOf('random init', randomInit);
// Each stage beside its random init, stage by stage, so that the rows printed so far are comparisons already.
const candidates = [
  ...trainedCandidates.stages.flatMap((candidate, stage) => [candidate, randomInitCandidates.stages[stage]]),
  ...(values['no-concatenated'] ? [] : [trainedCandidates.concatenated, randomInitCandidates.concatenated]),
];

const rows: ComparisonRow[] = await compareRepresentations({
  candidates,
  train: evalTrain,
  test,
  knn: { ...EVALUATION_PROTOCOL.knn, k: Math.min(EVALUATION_PROTOCOL.knn.k, evalTrain.size) },
  linear: { ...EVALUATION_PROTOCOL.linear },
  fewLabels: {
    perClass: EVALUATION_PROTOCOL.fewLabels.perClass,
    seeds: Array.from({ length: EVALUATION_PROTOCOL.fewLabels.subsets }, (_, i) => seed + i),
    linear: { weightDecay: EVALUATION_PROTOCOL.fewLabels.weightDecay },
  },
  onRow: (row, seconds) =>
    console.log(
      `${values.name} ${row.name} (${row.featureDim} dims): kNN ${(100 * row.knn).toFixed(1)}, linear ${(100 * row.linear).toFixed(1)}, ` +
        `10 labels ${(100 * row.fewLabels!.linear!.mean).toFixed(1)} ± ${(100 * row.fewLabels!.linear!.std).toFixed(1)} (${seconds.toFixed(0)} s)`,
    ),
});
appendFileSync(
  values.results!,
  `${JSON.stringify({ name: values.name, encoder: values.encoder, seed, trainImages: evalTrain.size, testImages: test.size, rows })}\n`,
);
trained.model.dispose();
randomInit.model.dispose();
