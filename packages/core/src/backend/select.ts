/**
 * Picks the fastest tfjs backend this machine can run, once per process.
 *
 * Order: TensorFlow on the GPU (tfjs-node-gpu installed and a GPU visible), TensorFlow on the CPU
 * (tfjs-node installed), WebAssembly (always shipped with @ssl/core; multi-threaded under Node, see
 * wasm-node-threads.ts), and the pure-JS `cpu` backend as the last resort (hundreds of times slower).
 * `SSL_BACKEND` or the `backend` option pins one; asking for one that cannot run is an error rather than
 * a silent downgrade, so a benchmark or a training job never runs on the wrong thing unnoticed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import * as tfWasm from '@tensorflow/tfjs-backend-wasm';

import { SslError, formatValue } from '../errors';
import { describeBackend } from './describe';
import { registerWasmTrainingKernels } from './kernels/index';
import { startSimdHelperThread } from './kernels/simd/simd-helper-thread';
import { backendMemory, precompileSimdKernels, setSimdHelperThread } from './kernels/simd/simd-kernels';
import { asWasmBackend } from './kernels/wasm-internals';
import { canRunNodeThreads, installThreadedWasmFactory, threadedWasmOutcome, wasmBackendInitialized } from './wasm-node-threads';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  /** The @ssl backend in use. */
  name: BackendName;
  /** The tfjs backend it runs on (`tf.getBackend()`): 'tensorflow', 'wasm' or 'cpu'. */
  tfjsBackend: string;
  /** Threads the kernels run on: the wasm thread pool size, or the cores TensorFlow may use; 1 for `cpu`. */
  threads: number;
  /** Whether the kernels are vectorized: WebAssembly SIMD for `wasm`, native (AVX...) for TensorFlow. */
  simd: boolean;
  /** Why this backend and this thread count, in words (what was missing or asked for). */
  reason: string;
}

export interface InitBackendOptions {
  /** Pins the backend; overrides `SSL_BACKEND`. Default: the fastest available. */
  backend?: BackendName;
  /** Threads for the wasm backend. Default: `SSL_THREADS`, else `os.availableParallelism()`. */
  threads?: number;
  /** Receives the one line that reports the choice. Default: stderr, so stdout stays clean for data. */
  log?: (line: string) => void;
}

const TFJS_NODE = '@tensorflow/tfjs-node';
const TFJS_NODE_GPU = '@tensorflow/tfjs-node-gpu';
/** tfjs-node-gpu 4.x links libtensorflow 2.9 built against these (tfjs-node README, "GPU support"). */
const GPU_REQUIREMENTS = 'an NVIDIA driver >= 450, CUDA Toolkit 11.2 and cuDNN 8.1';

let selected: Promise<BackendInfo> | undefined;
let selectedInfo: BackendInfo | undefined;

/**
 * Selects and initializes the backend, reports the choice once (one line to `log`), and returns what
 * was chosen. Idempotent: later calls return the first call's result and ignore their options.
 */
export function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (selected === undefined) {
    selected = selectBackend(options).then(
      (info) => {
        selectedInfo = info;
        (options.log ?? writeStderrLine)(describeBackend(info));
        return info;
      },
      (error: unknown) => {
        // A failed selection (bad name, missing package) may be retried with other options.
        selected = undefined;
        throw error;
      },
    );
  }
  return selected;
}

/** The backend `initBackend` chose, or undefined before it has finished. */
export function backendInfo(): BackendInfo | undefined {
  return selectedInfo;
}

export { describeBackend };

async function selectBackend(options: InitBackendOptions): Promise<BackendInfo> {
  const requested = requestedBackend(options.backend);
  const threads = requestedThreads(options.threads);
  if (requested !== undefined) {
    return startBackend(requested.name, threads, requested.source);
  }
  const skipped: string[] = [];
  const gpu = probeGpuBackend();
  if (gpu.available) {
    try {
      return await startBackend('tensorflow-gpu', threads, `fastest available (${gpu.detail})`);
    } catch (error) {
      skipped.push(`tensorflow-gpu: ${errorMessage(error)}`);
    }
  } else {
    skipped.push(`tensorflow-gpu: ${gpu.detail}`);
  }
  if (resolvePeer(TFJS_NODE) !== undefined) {
    try {
      return await startBackend('tensorflow', threads, `fastest available (${TFJS_NODE} installed)`);
    } catch (error) {
      skipped.push(`tensorflow: ${TFJS_NODE} is installed but failed to load (${errorMessage(error)})`);
    }
  } else {
    skipped.push(`tensorflow: ${TFJS_NODE} not installed`);
  }
  try {
    return await startBackend('wasm', threads, `default (${skipped.join('; ')})`);
  } catch (error) {
    skipped.push(`wasm: ${errorMessage(error)}`);
  }
  return startBackend('cpu', 1, `last resort, hundreds of times slower than wasm (${skipped.join('; ')})`);
}

function requestedBackend(option: BackendName | undefined): { name: BackendName; source: string } | undefined {
  const fromEnv = process.env.SSL_BACKEND;
  const [value, source] =
    option !== undefined
      ? [option, 'asked for by the backend option']
      : fromEnv
        ? [fromEnv.trim(), 'asked for by SSL_BACKEND']
        : [undefined, ''];
  if (value === undefined) return undefined;
  if (!(BACKEND_NAMES as readonly string[]).includes(value)) {
    const where = option !== undefined ? 'initBackend({ backend })' : 'SSL_BACKEND';
    throw new SslError('backend', `Unknown backend ${formatValue(value)} in ${where}: use one of ${BACKEND_NAMES.join(', ')}.`, {
      details: { value, valid: BACKEND_NAMES },
    });
  }
  return { name: value as BackendName, source };
}

function requestedThreads(option: number | undefined): number {
  const fromEnv = process.env.SSL_THREADS;
  const value = option ?? (fromEnv ? Number(fromEnv) : availableCores());
  if (!Number.isInteger(value) || value < 1) {
    const where = option !== undefined ? 'initBackend({ threads })' : 'SSL_THREADS';
    throw new SslError('invalid-config', `Invalid thread count ${formatValue(option ?? fromEnv)} in ${where}: expected an integer >= 1.`, {
      details: { value: option ?? fromEnv },
    });
  }
  return value;
}

function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

async function startBackend(name: BackendName, threads: number, reason: string): Promise<BackendInfo> {
  switch (name) {
    case 'tensorflow-gpu':
      return startTensorflow(true, reason);
    case 'tensorflow':
      return startTensorflow(false, reason);
    case 'wasm':
      return startWasm(threads, reason);
    case 'cpu':
      await activate('cpu');
      return { name, tfjsBackend: 'cpu', threads: 1, simd: false, reason };
  }
}

async function startTensorflow(gpu: boolean, reason: string): Promise<BackendInfo> {
  const name: BackendName = gpu ? 'tensorflow-gpu' : 'tensorflow';
  const packageName = gpu ? TFJS_NODE_GPU : TFJS_NODE;
  const resolved = resolvePeer(packageName);
  if (resolved === undefined) {
    const gpuNote = gpu ? ` It needs ${GPU_REQUIREMENTS} (see the tfjs-node README, "GPU support").` : '';
    throw new SslError(
      'backend',
      `Backend '${name}' needs ${packageName}, which is not installed: run \`pnpm add ${packageName}\` (or npm/yarn add).${gpuNote} ` +
        `Or unset SSL_BACKEND to use the fastest available backend (wasm ships with @ssl/core).`,
      { details: { backend: name, package: packageName } },
    );
  }
  if (gpu) {
    const gpuProbe = probeGpuBackend();
    if (!gpuProbe.available) {
      throw new SslError(
        'backend',
        `Backend 'tensorflow-gpu' needs a visible NVIDIA GPU, but ${gpuProbe.detail}. Use SSL_BACKEND=tensorflow for TensorFlow on the CPU.`,
      );
    }
  }
  try {
    // Importing the package registers the 'tensorflow' backend (its native binding loads here).
    createRequire(resolved)(resolved);
  } catch (error) {
    const gpuNote = gpu ? ` tfjs-node-gpu needs ${GPU_REQUIREMENTS}.` : '';
    throw new SslError(
      'backend',
      `${packageName} is installed but failed to load: ${errorMessage(error)}. Reinstall it (its install script downloads libtensorflow).${gpuNote}`,
      { cause: error },
    );
  }
  await activate('tensorflow');
  return { name, tfjsBackend: 'tensorflow', threads: availableCores(), simd: true, reason };
}

async function startWasm(threads: number, reason: string): Promise<BackendInfo> {
  let threadNote = '';
  const initializedEarlier = wasmBackendInitialized();
  if (threads > 1 && canRunNodeThreads() && !initializedEarlier) {
    installThreadedWasmFactory(threads);
  } else if (threads > 1 && initializedEarlier) {
    threadNote =
      'the wasm backend was initialized before initBackend() ran, with its own thread setup; call initBackend() first for threads';
  } else if (threads > 1) {
    threadNote = 'single-threaded: this runtime lacks Node worker_threads/SharedArrayBuffer';
  }
  tfWasm.setThreadsCount(threads);
  registerWasmTrainingKernels();
  await activate('wasm');
  const actualThreads = tfWasm.getThreadsCount();
  const wasmBackend = asWasmBackend(tf.backend());
  await precompileSimdKernels(wasmBackend);
  // Our SIMD filter-gradient kernel runs outside XNNPACK's thread pool; with threads it gets its own
  // second thread on the shared heap.
  const memory = backendMemory(wasmBackend);
  setSimdHelperThread(actualThreads > 1 && memory !== undefined ? startSimdHelperThread(memory) : undefined);
  const outcome = threadedWasmOutcome();
  if (outcome?.failure !== undefined) threadNote = `single-threaded: the threaded build failed to start (${outcome.failure})`;
  else if (threads === 1) threadNote = 'single-threaded as asked';
  else if (threadNote === '' && actualThreads < threads)
    threadNote = `${actualThreads} of ${threads} requested threads (tfjs-backend-wasm caps its pool at 8)`;
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return {
    name: 'wasm',
    tfjsBackend: 'wasm',
    threads: actualThreads,
    simd: simd === true,
    reason: threadNote === '' ? reason : `${reason}; ${threadNote}`,
  };
}

async function activate(tfjsBackend: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(tfjsBackend);
  } catch (error) {
    throw new SslError('backend', `The tfjs '${tfjsBackend}' backend failed to initialize: ${errorMessage(error)}.`, { cause: error });
  }
  if (!ok || tf.getBackend() !== tfjsBackend) {
    throw new SslError('backend', `The tfjs '${tfjsBackend}' backend failed to initialize (see the tfjs warning above).`);
  }
}

/**
 * Where an optional peer would load from: next to @ssl/core first (how package managers link peers),
 * then from the user's project. Resolved with createRequire at run time so bundlers neither inline nor
 * demand packages that are not installed.
 */
function resolvePeer(packageName: string): string | undefined {
  const bases = [import.meta.url, path.join(process.cwd(), 'package.json')];
  for (const base of bases) {
    try {
      return createRequire(base).resolve(packageName);
    } catch {
      // Not resolvable from here; try the next place.
    }
  }
  return undefined;
}

function probeGpuBackend(): { available: boolean; detail: string } {
  if (resolvePeer(TFJS_NODE_GPU) === undefined) return { available: false, detail: `${TFJS_NODE_GPU} not installed` };
  if (fs.existsSync('/dev/nvidia0')) return { available: true, detail: `${TFJS_NODE_GPU} installed, /dev/nvidia0 present` };
  try {
    const gpus = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    if (/GPU \d+/.test(gpus)) return { available: true, detail: `${TFJS_NODE_GPU} installed, nvidia-smi lists a GPU` };
  } catch {
    // nvidia-smi missing or failing means no usable NVIDIA driver.
  }
  return { available: false, detail: `${TFJS_NODE_GPU} installed but no NVIDIA GPU visible (no /dev/nvidia0, nvidia-smi lists none)` };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function writeStderrLine(line: string): void {
  process.stderr.write(`${line}\n`);
}
