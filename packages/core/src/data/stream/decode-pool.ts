/**
 * A pool of worker threads that read, decode and resize images (sharp where it loads, else jpeg-js / pngjs and
 * resize.ts), so decoding runs on other cores while the main thread trains. Each worker reads its own bytes
 * (a whole file, or a byte range of a tar shard) and sends back only the small resized image.
 *
 * The workers run CommonJS source assembled here from the functions of image-decode.ts and resize.ts
 * (`Function.prototype.toString`), as simd-helper-thread.ts does, so they start without a TypeScript loader
 * and the same code decodes on both sides.
 */
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SslError } from '../../errors';
import {
  decodeLibraries,
  decodeToTarget,
  decoderModulePaths,
  exifOrientation,
  loadSharp,
  orientRgba,
  type DecodeTarget,
  type DecoderChoice,
} from '../image-decode';
import { resizeImage, resizeKernel, resizeRgbaToBytes, resizeWeights } from '../resize';
import { readRange } from './tar';

/** Where one sample's encoded bytes are: a whole file (length -1) or a byte range. */
export interface DecodeJob {
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

export interface DecodePoolOptions {
  /** Worker threads; 0 decodes on the calling thread. Default: available cores − 1, between 1 and 4. */
  readonly workers?: number;
  readonly decoder?: DecoderChoice;
}

interface Pending {
  resolve(bytes: Uint8Array): void;
  reject(error: Error): void;
}

function workerSource(): string {
  const functions = [resizeKernel, resizeWeights, resizeImage, resizeRgbaToBytes, exifOrientation, orientRgba, decodeToTarget]
    .map((f) => f.toString())
    .join('\n');
  return `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
// esbuild's keepNames helper, in case the functions below were compiled with it.
const __name = (target) => target;
${functions}
const paths = workerData.paths;
const libraries = {
  jpeg: require(paths.jpeg),
  png: require(paths.png),
  sharp: paths.sharp ? require(paths.sharp) : undefined,
  resize: ${resizeRgbaToBytes.name},
};
if (libraries.sharp) {
  // One libvips thread per worker (the pool is the parallelism) and no operation cache (bounded memory).
  libraries.sharp.concurrency(1);
  libraries.sharp.cache(false);
}
const descriptors = new Map();
function readJob(job) {
  if (job.length < 0) return new Uint8Array(fs.readFileSync(job.path));
  let fd = descriptors.get(job.path);
  if (fd === undefined) {
    if (descriptors.size >= 16) {
      for (const open of descriptors.values()) fs.closeSync(open);
      descriptors.clear();
    }
    fd = fs.openSync(job.path, 'r');
    descriptors.set(job.path, fd);
  }
  const out = new Uint8Array(job.length);
  let done = 0;
  while (done < job.length) {
    const read = fs.readSync(fd, out, done, job.length - done, job.offset + done);
    if (read === 0) break;
    done += read;
  }
  return done === job.length ? out : out.subarray(0, done);
}
parentPort.on('message', async (message) => {
  try {
    const out = await ${decodeToTarget.name}(readJob(message.job), workerData.target, libraries);
    parentPort.postMessage({ id: message.id, out }, [out.buffer]);
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: String(error && error.message ? error.message : error) });
  }
});
`;
}

/** Default worker count: leave one core to the training step. */
export function defaultDecodeWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

interface PoolWorker {
  readonly worker: Worker;
  inFlight: number;
}

export class DecodePool {
  readonly workers: number;
  /** 'sharp' or 'js': which decoder the pool runs. */
  readonly decoder: 'sharp' | 'js';
  private readonly threads: PoolWorker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;
  private closing = false;
  private readonly libraries;

  constructor(
    readonly target: DecodeTarget,
    options: DecodePoolOptions = {},
  ) {
    this.workers = options.workers ?? defaultDecodeWorkers();
    if (!Number.isInteger(this.workers) || this.workers < 0) {
      throw new SslError('invalid-config', `DecodePool: workers must be a non-negative integer, got ${this.workers}.`);
    }
    // sharp must be loaded by the main thread before any worker loads it (its shared libraries stay mapped).
    this.decoder = loadSharp(options.decoder) ? 'sharp' : 'js';
    this.libraries = decodeLibraries(options.decoder);
    if (this.workers === 0) return;
    const paths = decoderModulePaths();
    const source = workerSource();
    for (let i = 0; i < this.workers; i++) {
      const worker = new Worker(source, {
        eval: true,
        // The parent's loaders (tsx, --conditions) are not needed by plain CommonJS and slow the start.
        execArgv: [],
        workerData: { paths: { ...paths, sharp: this.decoder === 'sharp' ? paths.sharp : undefined }, target },
      });
      const thread: PoolWorker = { worker, inFlight: 0 };
      worker.on('message', (message: { id: number; out?: Uint8Array; error?: string }) => {
        thread.inFlight--;
        if (thread.inFlight === 0) worker.unref();
        const job = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (!job) return;
        if (message.error !== undefined) job.reject(new Error(message.error));
        else job.resolve(message.out!);
      });
      worker.on('error', (error) => this.fail(new SslError('data', `A decode worker failed (${error.message}).`, { cause: error })));
      worker.on('exit', (code) => {
        if (!this.closing) this.fail(new SslError('data', `A decode worker exited (code ${code}) while the stream was open.`));
      });
      worker.unref();
      this.threads.push(thread);
    }
  }

  /** Reads and decodes one image; rejects with a plain Error saying what is wrong with the file. */
  decode(job: DecodeJob): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.threads.length === 0) return this.decodeHere(job);
    const id = this.nextId++;
    let thread = this.threads[0];
    for (const candidate of this.threads) if (candidate.inFlight < thread.inFlight) thread = candidate;
    // An idle worker must not keep the process alive; a busy one must, or an awaited decode could be dropped.
    if (thread.inFlight === 0) thread.worker.ref();
    thread.inFlight++;
    return new Promise<Uint8Array>((resolvePromise, reject) => {
      this.pending.set(id, { resolve: resolvePromise, reject });
      thread.worker.postMessage({ id, job });
    });
  }

  close(): Promise<void> {
    this.closing = true;
    // Not awaited: with tfjs's wasm threads running, a terminated worker's exit event was seen never to come (the
    // process then ended with an unsettled await). The workers are unref'd, so they never hold the process open.
    for (const thread of this.threads) {
      thread.worker.unref();
      void thread.worker.terminate().catch(() => {});
    }
    this.threads.length = 0;
    this.fail(new SslError('data', 'The decode pool is closed.'));
    return Promise.resolve();
  }

  private async decodeHere(job: DecodeJob): Promise<Uint8Array> {
    let bytes: Uint8Array;
    if (job.length < 0) bytes = new Uint8Array(await readFile(job.path));
    else {
      const fd = openSync(job.path, 'r');
      try {
        bytes = readRange(fd, job.offset, job.length);
      } finally {
        closeSync(fd);
      }
    }
    return decodeToTarget(bytes, this.target, this.libraries);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const job of this.pending.values()) job.reject(error);
    this.pending.clear();
  }
}
