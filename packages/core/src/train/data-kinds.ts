import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import { applyViews } from '../augment/policies';
import type { ViewPolicy } from '../augment/policies';
import { epochOrder, hostBatchToTensors } from '../data/batches';
import type { ImageDataset, ImageTextDataset } from '../data/dataset';
import { SslError } from '../errors';
import type { BatchOf, ImageViews, MethodDataKind } from '../method';
import type { Random } from '../random';
import type { JsonValue } from './checkpoint';
import { rangeIds } from './pools';
import type { Pool, PoolView } from './pools';

/**
 * Images read on demand by sample id (ImageStream of @ssl/core): a set larger than memory. The loop prefetches
 * the next step's ids while the current step runs.
 */
export interface StreamedImageSet {
  readonly name: string;
  readonly shape: [number, number, number];
  readonly size: number;
  readonly labels?: Int32Array;
  readonly numClasses?: number;
  prefetch(ids: ArrayLike<number>): void;
  /** The images of `ids`; a sample that cannot be read may be replaced by another, named in the returned ids. */
  read(ids: ArrayLike<number>): Promise<{ images: Uint8Array; ids: Int32Array }>;
}

/** Data for a run: images; labeled + unlabeled images; or image-caption pairs (or a plugin's own kind). */
export type TrainData =
  ImageDataset | ImageTextDataset | StreamedImageSet | { readonly labeled: ImageDataset; readonly unlabeled: ImageDataset } | object;

/** The view policies of a run, resolved. */
export interface RunViews {
  readonly unlabeled: ViewPolicy;
  readonly labeled: ViewPolicy;
}

/** What the loop asks a batch source for at one step. */
export interface BatchRequest {
  readonly step: number;
  /** Sample ids of the epoch pool that this step visits. */
  readonly ids: Int32Array;
  readonly pools: PoolView;
  readonly views: RunViews;
  readonly viewRng: Random;
  /** Labeled images per step of a semi-supervised batch. */
  readonly labeledBatchSize: number;
  readonly seed: number;
}

export interface MadeBatch<K extends MethodDataKind> {
  readonly batch: BatchOf<K>;
  /** Every tensor of the batch, freed by the loop after the step. */
  readonly owned: Tensor[];
  /** Images the step consumes (for throughput). */
  readonly imageCount: number;
}

/** One data kind opened on the data passed to train(): the sample space, its pools and its batches. */
export interface BatchSource<K extends MethodDataKind = MethodDataKind> {
  /** The data's name in errors and logs (the one an epoch passes over). */
  readonly name: string;
  /**
   * Shape [H, W, C] of the data's images; absent when it has none (a text corpus, pairs of which no side is images):
   * the run then has no image encoder unless train() is given one, and the collapse check has nothing to probe.
   */
  readonly inputShape?: readonly [number, number, number];
  readonly numClasses?: number;
  /** The data's texts, where it has them (captions of image–text pairs, a corpus, the text side of pairs). */
  readonly captions?: readonly string[];
  /** Size of the sample space: rows of per-sample state. */
  readonly sampleCount: number;
  readonly initialPools: Readonly<Record<string, Pool>>;
  /** The pool one pass of which is an epoch. */
  readonly epochPool: string;
  /** Float32 [0, 1] images of sample ids (the caller disposes them); a streamed source reads them asynchronously. */
  images(ids: Int32Array): Tensor4D | Promise<Tensor4D>;
  batch(request: BatchRequest): MadeBatch<K> | Promise<MadeBatch<K>>;
  /** Streamed sources: start reading the images of a coming step. */
  prefetch?(ids: Int32Array): void;
  /** The data as config.json describes it. */
  describe(): JsonValue;
}

/** A data kind: checks train()'s `data` for methods of this kind and opens it as a batch source. */
export interface DataKindDefinition<K extends MethodDataKind = MethodDataKind> {
  readonly name: K;
  readonly description: string;
  open(data: TrainData, methodId: string): BatchSource<K>;
}

/** Identity function that gives a data kind its types. */
export function defineDataKind<K extends MethodDataKind>(definition: DataKindDefinition<K>): DataKindDefinition<K> {
  return Object.freeze(definition);
}

const STREAM_LABELED_ORDER = 4;

function isDataset(data: TrainData): data is ImageDataset {
  return typeof data === 'object' && data !== null && 'images' in data && 'shape' in data && 'size' in data;
}

function isSemiSupervised(data: TrainData): data is { labeled: ImageDataset; unlabeled: ImageDataset } {
  return typeof data === 'object' && data !== null && 'labeled' in data && 'unlabeled' in data;
}

function isStreamed(data: TrainData): data is StreamedImageSet {
  return (
    typeof (data as Partial<StreamedImageSet>).read === 'function' && typeof (data as Partial<StreamedImageSet>).prefetch === 'function'
  );
}

/** A single-pool source over a streamed set: the same ids, pools and views as singleSource, images read by id. */
function streamedSource<K extends 'unlabeled' | 'labeled'>(
  stream: StreamedImageSet,
  poolName: string,
  batchOf: (views: ImageViews, request: BatchRequest, owned: Tensor[]) => BatchOf<K>,
): BatchSource<K> {
  if (stream.size === 0) throw new SslError('data', `Dataset ${stream.name} is empty: nothing to train on.`);
  const read = async (ids: Int32Array) => {
    const { images, ids: used } = await stream.read(ids);
    return { tensor: hostBatchToTensors({ images, indices: used }, stream.shape).images, used };
  };
  return {
    name: stream.name,
    inputShape: stream.shape,
    numClasses: stream.numClasses,
    sampleCount: stream.size,
    initialPools: { [poolName]: { ids: rangeIds(stream.size), labels: stream.labels } },
    epochPool: poolName,
    images: async (ids) => (await read(ids)).tensor,
    prefetch: (ids) => stream.prefetch(ids),
    async batch(request) {
      const owned: Tensor[] = [];
      const { tensor, used } = await read(request.ids);
      const views = ownViews(makeViews(tensor, used, request.views.unlabeled, request.viewRng), owned);
      // Labels follow the samples actually read (a corrupt one may have been replaced).
      return { batch: batchOf(views, { ...request, ids: used }, owned), owned, imageCount: used.length };
    },
    describe: () => ({ name: stream.name, size: stream.size, shape: stream.shape, streamed: true }),
  };
}

function requireDataset(data: TrainData, methodId: string): ImageDataset {
  if (isSemiSupervised(data)) throw new SslError('data', `${methodId} trains on one dataset; got { labeled, unlabeled }.`);
  if (!isDataset(data)) throw new SslError('data', `${methodId} needs an ImageDataset (e.g. from loadFashionMnist or loadImageFolder).`);
  if (data.size === 0) throw new SslError('data', `Dataset ${data.name} is empty: nothing to train on.`);
  return data;
}

/**
 * Gathers sample ids from datasets laid end to end in one sample space (semi-supervised: labeled ids
 * first, then unlabeled), as float32 images.
 */
export function gatherSampleImages(parts: readonly ImageDataset[], ids: Int32Array): Tensor4D {
  const shape = parts[0].shape;
  const imageSize = shape[0] * shape[1] * shape[2];
  const bytes = new Uint8Array(ids.length * imageSize);
  ids.forEach((id, row) => {
    let local = id;
    const part = parts.find((p) => (local < p.size ? true : ((local -= p.size), false)));
    if (!part || local < 0)
      throw new SslError('data', `Sample id ${id} is outside the run's ${parts.reduce((n, p) => n + p.size, 0)} samples.`);
    bytes.set(part.images.subarray(local * imageSize, (local + 1) * imageSize), row * imageSize);
  });
  return hostBatchToTensors({ images: bytes, indices: ids }, shape).images;
}

/** Position of each sample id in a pool, built once per pool (pools are replaced, never edited). */
const positionsOfPool = new WeakMap<Pool, Map<number, number>>();

function positionsIn(pool: Pool): Map<number, number> {
  let positions = positionsOfPool.get(pool);
  if (!positions) {
    positions = new Map(Array.from(pool.ids, (id, k) => [id, k] as [number, number]));
    positionsOfPool.set(pool, positions);
  }
  return positions;
}

function poolLabels(pool: Pool | undefined, ids: Int32Array, name: string): Tensor1D {
  const labels = pool?.labels;
  if (!pool || !labels) throw new SslError('data', `The ${name} pool has no labels.`);
  const positions = positionsIn(pool);
  return tf.tensor1d(
    Int32Array.from(ids, (id) => labels[positions.get(id) ?? -1] ?? -1),
    'int32',
  );
}

function makeViews(images: Tensor4D, indices: Int32Array, policy: ViewPolicy, rng: Random): ImageViews {
  return { images, indices, views: policy.views.length === 0 ? [] : applyViews(policy, images, rng) };
}

function ownViews<T extends ImageViews>(views: T, owned: Tensor[]): T {
  owned.push(views.images, ...views.views);
  return views;
}

function singleSource<K extends 'unlabeled' | 'labeled' | 'image-text'>(
  dataset: ImageDataset,
  poolName: string,
  batchOf: (views: ImageViews, request: BatchRequest, owned: Tensor[]) => BatchOf<K>,
): BatchSource<K> {
  const ids = rangeIds(dataset.size);
  return {
    name: dataset.name,
    inputShape: dataset.shape,
    numClasses: dataset.numClasses,
    captions: (dataset as Partial<ImageTextDataset>).captions,
    sampleCount: dataset.size,
    initialPools: { [poolName]: { ids, labels: dataset.labels } },
    epochPool: poolName,
    images: (batchIds) => gatherSampleImages([dataset], batchIds),
    batch(request) {
      const owned: Tensor[] = [];
      const views = ownViews(
        makeViews(gatherSampleImages([dataset], request.ids), request.ids, request.views.unlabeled, request.viewRng),
        owned,
      );
      return { batch: batchOf(views, request, owned), owned, imageCount: request.ids.length };
    },
    describe: () => ({ name: dataset.name, size: dataset.size, shape: dataset.shape }),
  };
}

function labelsOf(request: BatchRequest, poolName: string, owned: Tensor[]): Tensor1D {
  const labels = poolLabels(request.pools.get(poolName), request.ids, poolName);
  owned.push(labels);
  return labels;
}

const unlabeledKind = defineDataKind({
  name: 'unlabeled',
  description: 'Images without labels; epochs pass over every image.',
  open: (data, methodId) =>
    isStreamed(data)
      ? streamedSource<'unlabeled'>(data, 'unlabeled', (views) => ({ kind: 'unlabeled', ...views }))
      : singleSource<'unlabeled'>(requireDataset(data, methodId), 'unlabeled', (views) => ({ kind: 'unlabeled', ...views })),
});

const labeledKind = defineDataKind({
  name: 'labeled',
  description: 'Labeled images; epochs pass over the labeled pool.',
  open(data, methodId) {
    const labeledBatch = (views: ImageViews, request: BatchRequest, owned: Tensor[]): BatchOf<'labeled'> => ({
      kind: 'labeled',
      ...views,
      labels: labelsOf(request, 'labeled', owned),
    });
    if (isStreamed(data)) {
      if (!data.labels) throw new SslError('data', `${methodId} needs labels; ${data.name} has none.`);
      return streamedSource<'labeled'>(data, 'labeled', labeledBatch);
    }
    const dataset = requireDataset(data, methodId);
    if (!dataset.labels) throw new SslError('data', `${methodId} needs labels; ${dataset.name} has none.`);
    return singleSource<'labeled'>(dataset, 'labeled', labeledBatch);
  },
});

const imageTextKind = defineDataKind({
  name: 'image-text',
  description: 'Image-caption pairs; epochs pass over every pair.',
  open(data, methodId) {
    const dataset = requireDataset(data, methodId);
    if (!Array.isArray((dataset as Partial<ImageTextDataset>).captions)) {
      throw new SslError('data', `${methodId} needs image-caption pairs (an ImageTextDataset, e.g. from loadImageTextPairs).`);
    }
    const pairs = dataset as ImageTextDataset;
    return singleSource<'image-text'>(pairs, 'pairs', (views, request, owned) => {
      const labels = pairs.labels
        ? tf.tensor1d(
            Int32Array.from(request.ids, (i) => pairs.labels![i]),
            'int32',
          )
        : undefined;
      if (labels) owned.push(labels);
      return { kind: 'image-text', ...views, captions: Array.from(request.ids, (i) => pairs.captions[i]), labels };
    });
  },
});

/**
 * Labeled ids of a semi-supervised step: the labeled pool cycles independently of the unlabeled epoch, in
 * a seeded order per pass, so resumed steps draw exactly what the original run drew.
 */
function labeledIdsAt(pool: Pool, step: number, batchSize: number, seed: number): Int32Array {
  const out = new Int32Array(batchSize);
  for (let j = 0; j < batchSize; j++) {
    const position = step * batchSize + j;
    const order = labeledPassOrder(pool, seed, Math.floor(position / pool.ids.length));
    out[j] = pool.ids[order[position % pool.ids.length]];
  }
  return out;
}

/** The last pass order drawn for each labeled pool: a pass spans many steps, so it is drawn once, not per step. */
const lastPassOrder = new WeakMap<Pool, { readonly seed: number; readonly pass: number; readonly order: Int32Array }>();

function labeledPassOrder(pool: Pool, seed: number, pass: number): Int32Array {
  const cached = lastPassOrder.get(pool);
  if (cached?.seed === seed && cached.pass === pass) return cached.order;
  const order = epochOrder(pool.ids.length, seed + STREAM_LABELED_ORDER * 7919, pass);
  lastPassOrder.set(pool, { seed, pass, order });
  return order;
}

function checkSemiSupervised(data: TrainData, methodId: string): { labeled: ImageDataset; unlabeled: ImageDataset } {
  if (!isSemiSupervised(data))
    throw new SslError('data', `${methodId} is semi-supervised: pass data: { labeled, unlabeled } (see labeledSplit in @ssl/core).`);
  const { labeled, unlabeled } = data;
  if (!labeled.labels) throw new SslError('data', `${methodId}: the labeled set ${labeled.name} has no labels.`);
  if (labeled.size === 0) throw new SslError('data', `${methodId}: the labeled set ${labeled.name} is empty.`);
  if (unlabeled.size === 0) throw new SslError('data', `Dataset ${unlabeled.name} is empty: nothing to train on.`);
  if (labeled.shape.join() !== unlabeled.shape.join()) {
    throw new SslError(
      'data',
      `${methodId}: labeled images are ${labeled.shape.join('×')} but unlabeled ones ${unlabeled.shape.join('×')}.`,
    );
  }
  return { labeled, unlabeled };
}

function weightsOf(pool: Pool, ids: Int32Array): Tensor1D | undefined {
  const weights = pool.weights;
  if (!weights) return undefined;
  const positions = positionsIn(pool);
  return tf.tensor1d(Float32Array.from(ids, (id) => weights[positions.get(id) ?? -1] ?? 1));
}

const semiSupervisedKind = defineDataKind({
  name: 'semi-supervised',
  description: 'A labeled pool and an unlabeled pool (sample ids: labeled first); epochs pass over the unlabeled pool.',
  open(data, methodId): BatchSource<'semi-supervised'> {
    const { labeled, unlabeled } = checkSemiSupervised(data, methodId);
    const parts = [labeled, unlabeled];
    const images = (ids: Int32Array) => gatherSampleImages(parts, ids);
    return {
      name: unlabeled.name,
      inputShape: unlabeled.shape,
      numClasses: labeled.numClasses ?? unlabeled.numClasses,
      sampleCount: labeled.size + unlabeled.size,
      initialPools: {
        labeled: { ids: rangeIds(labeled.size), labels: labeled.labels },
        unlabeled: { ids: rangeIds(unlabeled.size, labeled.size) },
      },
      epochPool: 'unlabeled',
      images,
      batch(request) {
        const owned: Tensor[] = [];
        const unlabeledViews = ownViews(makeViews(images(request.ids), request.ids, request.views.unlabeled, request.viewRng), owned);
        const pool = request.pools.get('labeled') as Pool;
        const labeledIds = labeledIdsAt(pool, request.step, request.labeledBatchSize, request.seed);
        const labeledViews = ownViews(makeViews(images(labeledIds), labeledIds, request.views.labeled, request.viewRng), owned);
        const weights = weightsOf(pool, labeledIds);
        if (weights) owned.push(weights);
        const labels = labelsOf({ ...request, ids: labeledIds }, 'labeled', owned);
        const batch = { kind: 'semi-supervised' as const, labeled: { ...labeledViews, labels, weights }, unlabeled: unlabeledViews };
        return { batch, owned, imageCount: request.ids.length + labeledIds.length };
      },
      describe: () => ({
        name: unlabeled.name,
        size: unlabeled.size,
        shape: unlabeled.shape,
        labeled: { name: labeled.name, size: labeled.size },
      }),
    };
  },
});

/** Core's data kinds; plugins add theirs through definePlugin({ dataKinds }). */
export const CORE_DATA_KINDS: Readonly<Record<string, DataKindDefinition>> = Object.freeze({
  unlabeled: unlabeledKind,
  labeled: labeledKind,
  'semi-supervised': semiSupervisedKind,
  'image-text': imageTextKind,
} as Record<string, DataKindDefinition>);
