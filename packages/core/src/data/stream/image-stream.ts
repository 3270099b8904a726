/**
 * An image folder or a directory of WebDataset shards read as a stream: bounded memory whatever the size of
 * the set (the index, plus `prefetchBatches` batches of decoded images in flight), decoding in a pool of worker
 * threads ahead of the consumer, an order that is a pure function of (seed, epoch) (see stream-order.ts), and a
 * position to checkpoint: `batches(epoch, n, { from: position })` continues at the sample after the last batch
 * the interrupted run consumed. Corrupt files are skipped and counted (or an error, with onCorrupt: 'error').
 */
import { SslError, isSslError } from '../../errors';
import { validateImageLoadOptions, type ImageLoadOptions } from '../image-folder';
import { DecodePool, type DecodePoolOptions } from './decode-pool';
import { buildSampleIndex, type IndexOptions, type SampleIndex } from './sample-index';
import { streamOrder } from './stream-order';
import { join } from 'node:path';

export interface ImageStreamOptions extends ImageLoadOptions, IndexOptions, Pick<DecodePoolOptions, 'workers'> {
  /** Seed of the epoch orders (default 0). */
  readonly seed?: number;
  /** Samples in the shuffle buffer (default 2000); shards are also visited in a shuffled order. Folders shuffle fully. */
  readonly shuffleBuffer?: number;
  /** Batches decoded ahead of the consumer (default 2). */
  readonly prefetchBatches?: number;
  /** 'skip' (default): a file that does not decode is skipped, counted and warned about; 'error': it stops the epoch. */
  readonly onCorrupt?: 'skip' | 'error';
  /** Default: process.emitWarning. */
  readonly onWarning?: (message: string) => void;
  readonly name?: string;
}

/** One batch of a stream: host bytes (NHWC, 0..255) as BatchLoader's HostBatch, with where the epoch is. */
export interface StreamBatch {
  readonly images: Uint8Array;
  readonly labels?: Int32Array;
  readonly captions?: string[];
  /** Sample ids (rows of the index). */
  readonly ids: Int32Array;
  readonly keys: string[];
  readonly epoch: number;
  /** Samples of the epoch's order consumed up to this batch (corrupt ones included): resume with `from: position`. */
  readonly position: number;
}

export interface StreamCorruptReport {
  /** Distinct samples that failed to decode so far. */
  readonly count: number;
  /** Their keys (the first 100) with the decoder's message. */
  readonly samples: ReadonlyArray<{ key: string; message: string }>;
}

const WARN_EACH = 10;

export class ImageStream {
  readonly name: string;
  readonly shape: [number, number, number];
  readonly size: number;
  readonly labels?: Int32Array;
  readonly numClasses?: number;
  readonly classNames?: readonly string[];
  readonly seed: number;
  readonly shuffleBuffer: number;
  private readonly prefetchBatches: number;
  private readonly onCorrupt: 'skip' | 'error';
  private readonly warn: (message: string) => void;
  private readonly corruptIds = new Map<number, string>();
  /** Decodes started by prefetch() and not yet read. */
  private readonly prefetched = new Map<number, Promise<Uint8Array | Error | undefined>>();

  private constructor(
    readonly index: SampleIndex,
    readonly pool: DecodePool,
    options: ImageStreamOptions,
  ) {
    this.name = options.name ?? index.root;
    this.shape = [options.size[0], options.size[1], options.channels];
    this.size = index.keys.length;
    this.labels = index.labels;
    this.classNames = index.classNames;
    this.numClasses = index.classNames?.length;
    this.seed = options.seed ?? 0;
    this.shuffleBuffer = options.shuffleBuffer ?? 2000;
    this.prefetchBatches = options.prefetchBatches ?? 2;
    this.onCorrupt = options.onCorrupt ?? 'skip';
    this.warn = options.onWarning ?? ((message) => process.emitWarning(message, 'SslWarning'));
    if (!Number.isInteger(this.seed)) throw new SslError('invalid-config', `ImageStream(${this.name}): seed must be an integer, got ${this.seed}.`);
    if (!(Number.isInteger(this.prefetchBatches) && this.prefetchBatches >= 0)) {
      throw new SslError('invalid-config', `ImageStream(${this.name}): prefetchBatches must be an integer >= 0, got ${this.prefetchBatches}.`);
    }
  }

  /** Indexes `path` (a folder of images, or a directory of .tar shards; cached) and starts the decode pool. */
  static open(path: string, options: ImageStreamOptions): ImageStream {
    validateImageLoadOptions(options, `ImageStream(${path})`);
    if (options.onCorrupt !== undefined && options.onCorrupt !== 'skip' && options.onCorrupt !== 'error') {
      throw new SslError('invalid-config', `ImageStream(${path}): onCorrupt must be 'skip' or 'error', got ${JSON.stringify(options.onCorrupt)}.`);
    }
    const index = buildSampleIndex(path, options);
    const pool = new DecodePool({ size: options.size, channels: options.channels, filter: options.filter ?? 'lanczos3' }, options);
    return new ImageStream(index, pool, options);
  }

  /** Sample ids of epoch `epoch` in visiting order (folders: a full shuffle; shards: shard order + buffer). */
  order(epoch: number): Generator<number, void, undefined> {
    if (!Number.isInteger(epoch) || epoch < 0) throw new SslError('invalid-config', `ImageStream(${this.name}): epoch must be an integer >= 0, got ${epoch}.`);
    return streamOrder(this.index.groupStart, this.seed, epoch, this.index.kind === 'folder' ? 1 : this.shuffleBuffer);
  }

  /** Samples that failed to decode so far. */
  get corrupt(): StreamCorruptReport {
    const samples = [...this.corruptIds.entries()].slice(0, 100).map(([id, message]) => ({ key: this.index.keys[id], message }));
    return { count: this.corruptIds.size, samples };
  }

  /**
   * Batches of `batchSize` decoded images of epoch `epoch`, starting after the first `from` samples of its order.
   * While the consumer works on a batch the pool decodes the next `prefetchBatches`. The last partial batch is
   * dropped unless dropLast is false.
   */
  async *batches(epoch: number, batchSize: number, options: { from?: number; dropLast?: boolean } = {}): AsyncGenerator<StreamBatch, void, undefined> {
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new SslError('invalid-config', `ImageStream(${this.name}): batchSize must be a positive integer, got ${batchSize}.`);
    const from = options.from ?? 0;
    const dropLast = options.dropLast ?? true;
    const order = this.order(epoch);
    for (let skipped = 0; skipped < from; skipped++) if (order.next().done) return;
    const imageSize = this.shape[0] * this.shape[1] * this.shape[2];
    const window: Array<{ id: number; position: number; result: Promise<Uint8Array | Error | undefined> }> = [];
    const limit = (this.prefetchBatches + 1) * batchSize;
    let issued = from;
    let exhausted = false;
    const fill = () => {
      while (!exhausted && window.length < limit) {
        const next = order.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        issued++;
        window.push({ id: next.value, position: issued, result: this.decodeSample(next.value) });
      }
    };
    for (;;) {
      const ids: number[] = [];
      const rows: Uint8Array[] = [];
      let position = from;
      fill();
      while (rows.length < batchSize && window.length > 0) {
        const head = window.shift()!;
        const result = await head.result;
        // Refilled once the head is done, so no more than `limit` decodes are ever in flight.
        fill();
        position = head.position;
        if (result instanceof Error) throw result;
        if (result === undefined) continue;
        ids.push(head.id);
        rows.push(result);
      }
      if (rows.length === 0 || (rows.length < batchSize && dropLast)) return;
      const images = new Uint8Array(rows.length * imageSize);
      rows.forEach((row, k) => images.set(row, k * imageSize));
      const idArray = Int32Array.from(ids);
      yield {
        images,
        labels: this.labels ? Int32Array.from(ids, (id) => this.labels![id]) : undefined,
        captions: this.index.captions ? ids.map((id) => this.index.captions![id]) : undefined,
        ids: idArray,
        keys: ids.map((id) => this.index.keys[id]),
        epoch,
        position,
      };
    }
  }

  /**
   * Starts decoding samples `ids` (a later read() of them waits for these decodes instead of starting its own): a
   * trainer whose order is its own calls it with the next step's ids before running the current step.
   */
  prefetch(ids: ArrayLike<number>): void {
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      this.checkId(id);
      if (!this.prefetched.has(id)) this.prefetched.set(id, this.decodeSample(id));
    }
  }

  /**
   * The decoded images of samples `ids` in that order (random access through the index: one file, or one byte
   * range of a shard, per sample). A corrupt sample is replaced by the next decodable one (id + 1, …), the same
   * on every run, and counted; `ids` of the result says which samples the rows hold.
   */
  async read(ids: ArrayLike<number>): Promise<{ images: Uint8Array; ids: Int32Array }> {
    this.prefetch(ids);
    const imageSize = this.shape[0] * this.shape[1] * this.shape[2];
    const images = new Uint8Array(ids.length * imageSize);
    const used = new Int32Array(ids.length);
    for (let k = 0; k < ids.length; k++) {
      let id = ids[k];
      let result = await this.take(id);
      for (let tries = 1; result === undefined; tries++) {
        if (tries >= this.size) throw new SslError('data', `${this.name}: no sample decodes; check the files.`);
        id = (id + 1) % this.size;
        result = await this.take(id);
      }
      if (result instanceof Error) throw result;
      images.set(result, k * imageSize);
      used[k] = id;
    }
    return { images, ids: used };
  }

  /** Stops the decode workers. */
  close(): Promise<void> {
    return this.pool.close();
  }

  private take(id: number): Promise<Uint8Array | Error | undefined> {
    const started = this.prefetched.get(id);
    this.prefetched.delete(id);
    return started ?? this.decodeSample(id);
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.size) {
      throw new SslError('data', `ImageStream(${this.name}): sample id ${id} is outside 0..${this.size - 1}.`);
    }
  }

  /** The decoded image of sample `id`; undefined when it is corrupt (skip mode), an SslError (error mode). */
  private async decodeSample(id: number): Promise<Uint8Array | Error | undefined> {
    const { index } = this;
    const path = join(index.root, index.files[index.file[id]]);
    try {
      return await this.pool.decode({ path, offset: index.offset[id], length: index.length[id] });
    } catch (cause) {
      // The pool itself failing (closed, a worker died) is no fault of the file: it ends the epoch.
      if (isSslError(cause)) return cause;
      const message = (cause as Error).message;
      const where = index.kind === 'folder' ? path : `${path} (sample ${index.keys[id]})`;
      if (this.onCorrupt === 'error') {
        return new SslError('data', `${where}: cannot decode the image (${message}); remove it, or open the stream with onCorrupt: 'skip'.`, {
          cause,
          details: { file: path, key: index.keys[id] },
        });
      }
      if (!this.corruptIds.has(id)) {
        this.corruptIds.set(id, message);
        if (this.corruptIds.size <= WARN_EACH) this.warn(`${where}: skipped, cannot decode the image (${message}).`);
        else if (this.corruptIds.size === WARN_EACH + 1) this.warn(`${this.name}: more corrupt images skipped; their count is in ImageStream.corrupt.`);
      }
      return undefined;
    }
  }
}
