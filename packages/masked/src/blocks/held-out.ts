import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { Random, SslError, heldOutImages, invalidConfig } from '@ssl/core';
import type { HeldOutFigure, ImageDataset } from '@ssl/core';

/**
 * The best prediction that ignores the input, one constant per target position, fitted on the very targets and
 * weights it is scored on (so no context-free guess does better on that set):
 * - 'mean': the weighted mean at each position, the optimum of a (weighted) squared error;
 * - 'median': the weighted median at each position, the optimum of an absolute (L1) error;
 * - 'mode': the most frequent class at each position, the optimum of an accuracy;
 * - 'frequencies': each position's class frequencies, the optimum of a cross-entropy (the figure is their entropy).
 */
export type ContextFreeGuess =
  | { readonly kind: 'mean' }
  | { readonly kind: 'median' }
  | { readonly kind: 'mode'; readonly classes: number }
  | { readonly kind: 'frequencies'; readonly classes: number };

/** One figure of one held-out batch: the method's own value and what it was scored against. */
export interface HeldOutBatchScore {
  /** The method's figure on the batch: Σ weights · loss / normalizer (an error), or the weighted share of hits (an accuracy). */
  readonly value: number;
  /** The targets [N, ...positions]: float values ('mean', 'median') or int32 classes ('mode', 'frequencies'). */
  readonly targets: Tensor;
  /** Each target's weight in the figure, the targets' shape (0: not scored, e.g. a visible patch). */
  readonly weights: Tensor;
  /** The figure's denominator on this batch; Σ weights unless the loss divides by something else (e.g. every pixel). */
  readonly normalizer?: number;
}

export interface HeldOutLoopOptions {
  /** Seed of the masks / corruption drawn for the held-out images: the same seed gives the same figure. */
  readonly seed: number;
  /** Images per forward pass (default 256). */
  readonly batchSize?: number;
  /** Score only the first `limit` images. */
  readonly limit?: number;
}

/** A figure over the whole held-out set beside its context-free reference. */
export interface ContextFreeComparison {
  readonly value: number;
  readonly reference: number;
}

/** Per-position accumulator of one figure's context-free reference. */
class ContextFreeAccumulator {
  private positions = -1;
  private weightSums = new Float64Array(0);
  private firstMoments = new Float64Array(0);
  private secondMoments = new Float64Array(0);
  private counts = new Float64Array(0);
  private readonly kept: { values: Float32Array; weights: Float32Array }[] = [];
  private valueSum = 0;
  normalizer = 0;

  constructor(private readonly guess: ContextFreeGuess) {}

  add(score: HeldOutBatchScore, values: Float32Array | Int32Array, weights: Float32Array): void {
    const rows = score.targets.shape[0];
    const positions = values.length / rows;
    if (this.positions < 0) this.start(positions);
    else if (positions !== this.positions)
      throw new SslError('shape-mismatch', `held-out read-out: ${positions} target positions in a batch after ${this.positions} before.`);
    let normalizer = score.normalizer;
    if (normalizer === undefined) {
      normalizer = 0;
      for (const weight of weights) normalizer += weight;
    }
    this.valueSum += score.value * normalizer;
    this.normalizer += normalizer;
    const kind = this.guess.kind;
    if (kind === 'median') {
      // Copies: a backend may reuse the arrays dataSync returned once their tensors are freed.
      this.kept.push({ values: Float32Array.from(values), weights: Float32Array.from(weights) });
      return;
    }
    for (let i = 0; i < values.length; i++) {
      const weight = weights[i];
      if (weight === 0) continue;
      const position = i % positions;
      if (kind === 'mean') {
        this.weightSums[position] += weight;
        this.firstMoments[position] += weight * values[i];
        this.secondMoments[position] += weight * values[i] * values[i];
      } else {
        const value = values[i];
        if (!(Number.isInteger(value) && value >= 0 && value < this.guess.classes))
          throw new SslError('data', `held-out read-out: class ${value} outside 0..${this.guess.classes - 1}.`);
        this.counts[position * this.guess.classes + value] += weight;
      }
    }
  }

  private start(positions: number): void {
    this.positions = positions;
    if (this.guess.kind === 'mean') {
      this.weightSums = new Float64Array(positions);
      this.firstMoments = new Float64Array(positions);
      this.secondMoments = new Float64Array(positions);
    } else if (this.guess.kind === 'mode' || this.guess.kind === 'frequencies') {
      this.counts = new Float64Array(positions * this.guess.classes);
    }
  }

  /** The method's figure over every batch, each weighted by its normalizer. */
  value(): number {
    return this.normalizer === 0 ? 0 : this.valueSum / this.normalizer;
  }

  /** The best constant's figure on the same targets and weights. */
  reference(): number {
    if (this.normalizer === 0) return 0;
    let total = 0;
    const guess = this.guess;
    for (let position = 0; position < this.positions; position++) {
      if (guess.kind === 'mean') {
        // Σ w (x − c)² at its optimum c = Σ w x / Σ w is Σ w x² − (Σ w x)² / Σ w.
        const weight = this.weightSums[position];
        if (weight > 0) total += Math.max(0, this.secondMoments[position] - this.firstMoments[position] ** 2 / weight);
      } else if (guess.kind === 'median') {
        total += this.weightedAbsoluteDeviation(position);
      } else {
        const row = this.counts.subarray(position * guess.classes, (position + 1) * guess.classes);
        let sum = 0;
        let most = 0;
        for (const count of row) {
          sum += count;
          most = Math.max(most, count);
        }
        if (guess.kind === 'mode') total += most;
        else for (const count of row) if (count > 0) total -= count * Math.log(count / sum);
      }
    }
    return total / this.normalizer;
  }

  /** Σ w |x − c| at the weighted median c of one position. */
  private weightedAbsoluteDeviation(position: number): number {
    const values: number[] = [];
    const weights: number[] = [];
    for (const batch of this.kept) {
      for (let i = position; i < batch.values.length; i += this.positions) {
        if (batch.weights[i] === 0) continue;
        values.push(batch.values[i]);
        weights.push(batch.weights[i]);
      }
    }
    if (values.length === 0) return 0;
    const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
    const half = weights.reduce((sum, weight) => sum + weight, 0) / 2;
    let cumulative = 0;
    let median = values[order[order.length - 1]];
    for (const i of order) {
      cumulative += weights[i];
      if (cumulative >= half) {
        median = values[i];
        break;
      }
    }
    return values.reduce((sum, value, i) => sum + weights[i] * Math.abs(value - median), 0);
  }
}

/**
 * The shared loop of the masked methods' held-out read-outs (`MethodRuntime.heldOutTask`): runs `score` on
 * batches of `dataset`'s images (floats in [0, 1], inside `tf.tidy`, with one `Random(seed)` for the whole pass, so
 * masks and corruption are reproducible) and returns, for each figure `score` yields, the method's value over
 * the whole set beside the value of the best context-free guess (`guesses[i]`) fitted on these very targets
 * and weights. That reference is stricter than one fitted on the training set. `score` must run its networks in
 * inference mode; every tensor it makes is freed here.
 */
export async function heldOutVersusContextFree(
  dataset: Pick<ImageDataset, 'images' | 'shape' | 'size'>,
  guesses: readonly ContextFreeGuess[],
  score: (images: Tensor4D, rng: Random) => readonly HeldOutBatchScore[],
  options: HeldOutLoopOptions,
): Promise<ContextFreeComparison[]> {
  const batchSize = options.batchSize ?? 256;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) invalidConfig('batchSize', batchSize, 'a positive integer');
  const count = Math.min(options.limit ?? dataset.size, dataset.size);
  const [height, width, channels] = dataset.shape;
  const pixels = height * width * channels;
  const rng = new Random(options.seed);
  const accumulators = guesses.map((guess) => new ContextFreeAccumulator(guess));
  for (let start = 0; start < count; start += batchSize) {
    const rows = Math.min(batchSize, count - start);
    const bytes = dataset.images.subarray(start * pixels, (start + rows) * pixels);
    tf.tidy(() => {
      const images = tf.div(tf.tensor4d(Float32Array.from(bytes), [rows, height, width, channels]), 255) as Tensor4D;
      const scores = score(images, rng);
      if (scores.length !== guesses.length)
        throw new SslError('shape-mismatch', `held-out read-out: ${scores.length} figures for ${guesses.length} context-free guesses.`);
      scores.forEach((figure, i) => {
        const weights = tf.broadcastTo(figure.weights, figure.targets.shape);
        accumulators[i].add(figure, figure.targets.dataSync() as Float32Array | Int32Array, weights.dataSync() as Float32Array);
      });
    });
  }
  return accumulators.map((accumulator) => ({ value: accumulator.value(), reference: accumulator.reference() }));
}

/** A method's `heldOutTask` from its figures' names and a read-out on the checked held-out images. */
export function contextFreeHeldOutTask(
  methodId: string,
  figures: (images: ImageDataset, seed: number) => Promise<readonly HeldOutFigure[]>,
): (heldOut: unknown, options: { seed: number }) => Promise<readonly HeldOutFigure[]> {
  return async (heldOut, { seed }) => figures(heldOutImages(heldOut, methodId), seed);
}

/**
 * A reference's name in a figure, e.g. `contextFreeReferenceName("each pixel's mean")`: which constant, and that
 * it was fitted on the held-out images themselves.
 */
export function contextFreeReferenceName(constant: string): string {
  return `best constant: ${constant} over these held-out images (stricter than the training set's)`;
}
