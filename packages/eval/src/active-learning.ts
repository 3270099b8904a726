import { Random, SslError } from '@ssl/core';
import { extractFeatures } from './extract-features';
import { accuracyOf, assertSameDim, featureCount } from './feature-set';
import { argmaxRows } from './linear-probe';
import { classifierScores, fitLogisticRegression } from './logistic-regression';
import type { LinearClassifier } from './logistic-regression';
import type { FeatureEncoder, FeatureSet, LabeledImageDataset } from './types';

/**
 * How the next labels are chosen. Uncertainty sampling (Lewis & Gale 1994; Settles 2009, §3.1) ranks pool
 * rows by the probe's class probabilities; 'vote-entropy' is query-by-committee over a bagged ensemble of
 * probes (Dagan & Engelson 1995; Abe & Mamitsuka 1998); 'core-set' is k-center greedy on the features
 * (Sener & Savarese 2018), which needs no probe at all.
 */
export type AcquisitionStrategy = 'random' | 'least-confidence' | 'margin' | 'entropy' | 'vote-entropy' | 'core-set';

export const ACQUISITION_STRATEGIES: readonly AcquisitionStrategy[] = [
  'random',
  'least-confidence',
  'margin',
  'entropy',
  'vote-entropy',
  'core-set',
];

/**
 * Answers label queries for pool rows (by index): an array lookup in experiments, a person or a labelling
 * service in an application. May be async.
 */
export type LabelOracle = (indices: readonly number[]) => ArrayLike<number> | Promise<ArrayLike<number>>;

/** Unlabeled pool features, row-major [count, dim]. */
export interface PoolFeatures {
  readonly features: Float32Array;
  readonly dim: number;
}

export interface ActiveLearningOptions {
  /** The unlabeled pool: features, or images to pass through `encoder` once. */
  pool: PoolFeatures | LabeledImageDataset;
  /** Needed when `pool` (or `test`) are images; the encoder is only read, in inference mode. */
  encoder?: FeatureEncoder;
  oracle: LabelOracle;
  numClasses: number;
  strategy: AcquisitionStrategy;
  /** Labels queried per round. The first round is the cold start: random rows, or k-center greedy for 'core-set'. */
  budget: number;
  /** Rounds; `rounds × budget` labels in the end. */
  rounds: number;
  seed?: number;
  /** Labeled held-out rows (features, or images with `encoder`): the probe is scored on them after each round. */
  test?: FeatureSet | LabeledImageDataset;
  /** L2 penalty of the logistic probe (default 1e-2, the few-labels penalty of `EVALUATION_PROTOCOL`). */
  weightDecay?: number;
  /** Probes in the 'vote-entropy' committee, each fitted on a bootstrap resample of the labeled rows (default 5). */
  committeeSize?: number;
  /** Called after each round, e.g. to log the learning curve. */
  onRound?: (round: ActiveLearningRound) => void;
}

export interface ActiveLearningRound {
  /** 1-based. */
  round: number;
  /** Labeled rows after this round. */
  labeled: number;
  /** Pool rows queried in this round. */
  queried: number[];
  /** Top-1 of the probe fitted on every label so far, on `test` (undefined without a test set). */
  testAccuracy?: number;
}

export interface ActiveLearningResult {
  strategy: AcquisitionStrategy;
  /** Queried pool rows in query order, and the oracle's answers. */
  labeledIndices: number[];
  labels: number[];
  rounds: ActiveLearningRound[];
  /** The probe fitted on every label. */
  classifier: LinearClassifier;
}

/**
 * Pool-based active learning (Settles 2009) on frozen features: each round fits a logistic probe on the
 * labels so far, queries `budget` more pool rows chosen by `strategy`, asks the oracle, and (with a test
 * set) records the probe's accuracy — a learning curve in labels. A self-supervised encoder gives the cold
 * start its features: with no labels yet, the representation is all there is.
 */
export async function activeLearning(options: ActiveLearningOptions): Promise<ActiveLearningResult> {
  const { strategy, budget, rounds, numClasses } = validateActiveLearning(options);
  const pool = await featuresOf(options.pool, options.encoder, 'pool');
  const poolCount = pool.features.length / pool.dim;
  if (budget * rounds > poolCount) {
    throw new SslError('invalid-config', `activeLearning asks for ${budget * rounds} labels but the pool has ${poolCount} rows.`);
  }
  const test = options.test === undefined ? undefined : await labeledFeaturesOf(options.test, options.encoder);
  if (test) assertSameDim({ ...pool, labels: new Int32Array(poolCount) }, test);
  const random = new Random(options.seed ?? 0);
  const weightDecay = options.weightDecay ?? 1e-2;
  const committeeSize = options.committeeSize ?? 5;

  const labeledIndices: number[] = [];
  const labels: number[] = [];
  const history: ActiveLearningRound[] = [];
  let classifier: LinearClassifier | undefined;
  for (let round = 1; round <= rounds; round++) {
    const queried =
      round === 1 && strategy !== 'core-set'
        ? randomRows(poolCount, budget, new Set(), random)
        : await acquire(strategy, pool, labeledIndices, labels, { budget, numClasses, weightDecay, committeeSize, random, classifier });
    const answers = await options.oracle(queried);
    if (answers.length !== queried.length) {
      throw new SslError('data', `The oracle answered ${answers.length} labels for ${queried.length} queries: return one label per index.`);
    }
    for (let i = 0; i < queried.length; i++) {
      const label = answers[i];
      if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
        throw new SslError(
          'data',
          `The oracle labelled pool row ${queried[i]} as ${label}; labels must be integers in [0, ${numClasses}).`,
        );
      }
      labeledIndices.push(queried[i]);
      labels.push(label);
    }
    classifier = await fitProbe(pool, labeledIndices, labels, numClasses, weightDecay);
    const entry: ActiveLearningRound = { round, labeled: labeledIndices.length, queried };
    if (test) entry.testAccuracy = accuracyOf(argmaxRows(await classifierScores(classifier, test.features), numClasses), test.labels);
    history.push(entry);
    options.onRound?.(entry);
  }
  return { strategy, labeledIndices, labels, rounds: history, classifier: classifier as LinearClassifier };
}

function validateActiveLearning(options: ActiveLearningOptions) {
  const { strategy, budget, rounds, numClasses } = options;
  if (!ACQUISITION_STRATEGIES.includes(strategy)) {
    throw new SslError(
      'invalid-config',
      `activeLearning strategy must be one of ${ACQUISITION_STRATEGIES.join(', ')}; got ${String(strategy)}.`,
    );
  }
  for (const [name, value] of [
    ['budget', budget],
    ['rounds', rounds],
    ['committeeSize', options.committeeSize ?? 5],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0)
      throw new SslError('invalid-config', `activeLearning ${name} must be a positive integer, got ${value}.`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 2)
    throw new SslError('invalid-config', `activeLearning numClasses must be an integer >= 2, got ${numClasses}.`);
  if (typeof options.oracle !== 'function')
    throw new SslError('invalid-config', 'activeLearning needs an oracle: a function from pool indices to labels.');
  return { strategy, budget, rounds, numClasses };
}

function isImages(source: PoolFeatures | FeatureSet | LabeledImageDataset): source is LabeledImageDataset {
  return 'images' in source;
}

async function featuresOf(
  source: PoolFeatures | LabeledImageDataset,
  encoder: FeatureEncoder | undefined,
  name: string,
): Promise<PoolFeatures> {
  if (!isImages(source)) {
    if (!Number.isInteger(source.dim) || source.dim <= 0 || source.features.length % source.dim !== 0) {
      throw new SslError('shape-mismatch', `activeLearning ${name}: ${source.features.length} values are not rows of dim ${source.dim}.`);
    }
    return source;
  }
  if (!encoder) throw new SslError('invalid-config', `activeLearning ${name} is images: pass the encoder that turns them into features.`);
  // The pool's own labels (if any) are never read: only the oracle answers.
  const unlabeled = { ...source, labels: new Int32Array(source.size).fill(-1) };
  const { features, dim } = await extractFeatures(encoder, unlabeled);
  return { features, dim };
}

async function labeledFeaturesOf(source: FeatureSet | LabeledImageDataset, encoder: FeatureEncoder | undefined): Promise<FeatureSet> {
  if (!isImages(source)) {
    featureCount(source, 'test');
    return source;
  }
  if (!encoder) throw new SslError('invalid-config', 'activeLearning test is images: pass the encoder that turns them into features.');
  return extractFeatures(encoder, source);
}

function rowsOf(pool: PoolFeatures, indices: readonly number[], labels: readonly number[]): FeatureSet {
  const features = new Float32Array(indices.length * pool.dim);
  indices.forEach((row, i) => features.set(pool.features.subarray(row * pool.dim, (row + 1) * pool.dim), i * pool.dim));
  return { features, dim: pool.dim, labels: Int32Array.from(labels) };
}

async function fitProbe(
  pool: PoolFeatures,
  indices: readonly number[],
  labels: readonly number[],
  numClasses: number,
  weightDecay: number,
) {
  const fit = await fitLogisticRegression(rowsOf(pool, indices, labels), { numClasses, weightDecay, maxIterations: 200 });
  return fit.classifier;
}

interface AcquireContext {
  budget: number;
  numClasses: number;
  weightDecay: number;
  committeeSize: number;
  random: Random;
  classifier: LinearClassifier | undefined;
}

async function acquire(
  strategy: AcquisitionStrategy,
  pool: PoolFeatures,
  labeledIndices: readonly number[],
  labels: readonly number[],
  context: AcquireContext,
): Promise<number[]> {
  const { budget, numClasses, random } = context;
  const exclude = new Set(labeledIndices);
  const poolCount = pool.features.length / pool.dim;
  if (strategy === 'random') return randomRows(poolCount, budget, exclude, random);
  if (strategy === 'core-set') return kCenterGreedy(pool.features, pool.dim, labeledIndices, budget, random.int(poolCount));
  if (strategy === 'vote-entropy') {
    const votes: Int32Array[] = [];
    for (let member = 0; member < context.committeeSize; member++) {
      // Bagging (Abe & Mamitsuka 1998): each member sees a bootstrap resample of the labeled rows.
      const resample = Array.from({ length: labeledIndices.length }, () => random.int(labeledIndices.length));
      const probe = await fitProbe(
        pool,
        resample.map((i) => labeledIndices[i]),
        resample.map((i) => labels[i]),
        numClasses,
        context.weightDecay,
      );
      votes.push(argmaxRows(await classifierScores(probe, pool.features), numClasses));
    }
    return topScoring(voteEntropyScores(votes, numClasses), budget, exclude);
  }
  const probabilities = softmaxRows(await classifierScores(context.classifier as LinearClassifier, pool.features), numClasses);
  const scores =
    strategy === 'least-confidence'
      ? leastConfidenceScores(probabilities, numClasses)
      : strategy === 'margin'
        ? marginScores(probabilities, numClasses)
        : entropyScores(probabilities, numClasses);
  return topScoring(scores, budget, exclude);
}

function randomRows(count: number, take: number, exclude: ReadonlySet<number>, random: Random): number[] {
  const picked: number[] = [];
  for (const row of random.permutation(count)) {
    if (picked.length === take) break;
    if (!exclude.has(row)) picked.push(row);
  }
  return picked;
}

/** Row-wise softmax of [count, numClasses] logits (max-shifted, float64 sums). */
export function softmaxRows(logits: Float32Array, numClasses: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let offset = 0; offset < logits.length; offset += numClasses) {
    let max = -Infinity;
    for (let c = 0; c < numClasses; c++) max = Math.max(max, logits[offset + c]);
    let sum = 0;
    for (let c = 0; c < numClasses; c++) sum += Math.exp(logits[offset + c] - max);
    for (let c = 0; c < numClasses; c++) out[offset + c] = Math.exp(logits[offset + c] - max) / sum;
  }
  return out;
}

/*
 * Acquisition scores: one number per pool row, larger = query first (Settles 2009, §3.1). Each takes
 * row-major [count, numClasses] class probabilities.
 */

/** Least confidence: 1 − max_c p(c | x). */
export function leastConfidenceScores(probabilities: Float32Array, numClasses: number): Float64Array {
  return mapRows(probabilities, numClasses, (row) => 1 - Math.max(...row));
}

/** Margin sampling (Scheffer et al. 2001): 1 − (p(top) − p(second)), so the smallest margin scores highest. */
export function marginScores(probabilities: Float32Array, numClasses: number): Float64Array {
  return mapRows(probabilities, numClasses, (row) => {
    let first = -Infinity;
    let second = -Infinity;
    for (const p of row) {
      if (p > first) {
        second = first;
        first = p;
      } else if (p > second) second = p;
    }
    return 1 - (first - second);
  });
}

/** Predictive entropy −Σ_c p log p (Shannon 1948), in nats; 0·log 0 = 0. */
export function entropyScores(probabilities: Float32Array, numClasses: number): Float64Array {
  return mapRows(probabilities, numClasses, (row) => row.reduce((sum, p) => (p > 0 ? sum - p * Math.log(p) : sum), 0));
}

/**
 * Vote entropy of a committee (Dagan & Engelson 1995): −Σ_c (V(c)/M) log(V(c)/M), V(c) the members voting
 * for class c out of M. `votes[m][row]` is member m's predicted class for that row.
 */
export function voteEntropyScores(votes: readonly Int32Array[], numClasses: number): Float64Array {
  if (votes.length === 0) throw new SslError('invalid-config', 'voteEntropyScores needs at least one committee member.');
  const count = votes[0].length;
  const scores = new Float64Array(count);
  const tally = new Float64Array(numClasses);
  for (let row = 0; row < count; row++) {
    tally.fill(0);
    for (const member of votes) tally[member[row]] += 1;
    let entropy = 0;
    for (const v of tally) if (v > 0) entropy -= (v / votes.length) * Math.log(v / votes.length);
    scores[row] = entropy;
  }
  return scores;
}

function mapRows(probabilities: Float32Array, numClasses: number, score: (row: Float32Array) => number): Float64Array {
  if (probabilities.length % numClasses !== 0) {
    throw new SslError('shape-mismatch', `${probabilities.length} probabilities are not rows of ${numClasses} classes.`);
  }
  const count = probabilities.length / numClasses;
  const scores = new Float64Array(count);
  for (let row = 0; row < count; row++) scores[row] = score(probabilities.subarray(row * numClasses, (row + 1) * numClasses));
  return scores;
}

/** The `count` highest-scoring rows not in `exclude`, best first; ties go to the lower index. */
export function topScoring(scores: ArrayLike<number>, count: number, exclude: ReadonlySet<number> = new Set()): number[] {
  const candidates: number[] = [];
  for (let row = 0; row < scores.length; row++) if (!exclude.has(row)) candidates.push(row);
  candidates.sort((a, b) => scores[b] - scores[a] || a - b);
  return candidates.slice(0, count);
}

/**
 * k-center greedy (Gonzalez 1985; the core-set acquisition of Sener & Savarese 2018, Alg. 1): repeatedly
 * adds the row farthest (Euclidean) from every center so far. The centers start as `labeled`; when that is
 * empty, the first center is `firstCenter`. Returns the `count` new centers in the order chosen. The
 * covering radius it reaches is at most twice the optimal one for the same number of centers.
 */
export function kCenterGreedy(features: Float32Array, dim: number, labeled: readonly number[], count: number, firstCenter = 0): number[] {
  const rows = features.length / dim;
  if (!Number.isInteger(rows)) throw new SslError('shape-mismatch', `${features.length} values are not rows of dim ${dim}.`);
  if (labeled.length + count > rows) {
    throw new SslError('invalid-config', `kCenterGreedy cannot add ${count} centers to ${labeled.length} among ${rows} rows.`);
  }
  const nearest = new Float64Array(rows).fill(Infinity);
  const addCenter = (center: number) => {
    for (let row = 0; row < rows; row++) {
      const distance = squaredDistance(features, dim, row, center);
      if (distance < nearest[row]) nearest[row] = distance;
    }
  };
  for (const center of labeled) addCenter(center);
  const chosen: number[] = [];
  if (labeled.length === 0 && count > 0) {
    chosen.push(firstCenter);
    addCenter(firstCenter);
  }
  while (chosen.length < count) {
    let farthest = 0;
    for (let row = 1; row < rows; row++) if (nearest[row] > nearest[farthest]) farthest = row;
    chosen.push(farthest);
    addCenter(farthest);
  }
  return chosen;
}

/** max_row min_center ‖x_row − x_center‖: the radius of the smallest balls around `centers` that cover every row. */
export function coveringRadius(features: Float32Array, dim: number, centers: readonly number[]): number {
  const rows = features.length / dim;
  let radius = 0;
  for (let row = 0; row < rows; row++) {
    let nearest = Infinity;
    for (const center of centers) nearest = Math.min(nearest, squaredDistance(features, dim, row, center));
    radius = Math.max(radius, nearest);
  }
  return Math.sqrt(radius);
}

function squaredDistance(features: Float32Array, dim: number, a: number, b: number): number {
  let sum = 0;
  for (let d = 0; d < dim; d++) {
    const difference = features[a * dim + d] - features[b * dim + d];
    sum += difference * difference;
  }
  return sum;
}
