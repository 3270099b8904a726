/**
 * Backend selection in a web page (the `browser` entry's `initBackend`): the fastest tfjs backend the page
 * can run, once per page, reported in the same one line as in Node.
 *
 * Order: `webgpu` → `webgl` → `wasm` → `cpu`. WebAssembly and the pure-JS `cpu` backend ship with @ssl/core;
 * the GPU backends are a megabyte each, so they are candidates when the page imports them
 * (`import '@tensorflow/tfjs-backend-webgl'`), and the report says when one was not. Asking for a backend that
 * cannot run is an error rather than a silent downgrade, as in Node. Our wasm training kernels are registered
 * here too: they are the same code, and their SIMD module is inlined in the bundle (no extra request).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfWasm from '@tensorflow/tfjs-backend-wasm';

import { SslError, formatValue } from '../errors';
import { describeBackend } from './describe';
import { registerWasmTrainingKernels } from './kernels/index';
import { precompileSimdKernels, setSimdHelperThread } from './kernels/simd/simd-kernels';
import { asWasmBackend } from './kernels/wasm-internals';

export { describeBackend };

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

export const BACKEND_NAMES: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

export interface BackendInfo {
  /** The @ssl backend in use. */
  name: BackendName;
  /** The tfjs backend it runs on (`tf.getBackend()`). */
  tfjsBackend: string;
  /** Threads the kernels run on: the wasm thread pool size (1 unless the page is cross-origin isolated); 1 for the others. */
  threads: number;
  /** Whether the wasm kernels are vectorized (WebAssembly SIMD); false for the GPU backends and `cpu`. */
  simd: boolean;
  /** Why this backend and this thread count, in words (what was missing or asked for). */
  reason: string;
}

export interface InitBackendOptions {
  /** Pins the backend. Default: the fastest available. */
  backend?: BackendName;
  /**
   * Threads for the wasm backend; they need a cross-origin isolated page (COOP/COEP headers) for
   * SharedArrayBuffer. Default: `navigator.hardwareConcurrency` when isolated, else 1.
   */
  threads?: number;
  /**
   * Where tfjs-backend-wasm's .wasm files are served from: a URL prefix ending in `/`, or a map from file name
   * (`tfjs-backend-wasm-simd.wasm`, ...) to URL. Default: next to the page's script, tfjs's own default.
   */
  wasmPaths?: string | { [fileName: string]: string };
  /** Receives the one line that reports the choice. Default: console.info. */
  log?: (line: string) => void;
}

let selected: Promise<BackendInfo> | undefined;
let selectedInfo: BackendInfo | undefined;

/**
 * Selects and initializes the backend, reports the choice once (one line to `log`), and returns what was
 * chosen. Idempotent: later calls return the first call's result and ignore their options.
 */
export function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (selected === undefined) {
    selected = selectBackend(options).then(
      (info) => {
        selectedInfo = info;
        (options.log ?? ((line: string) => console.info(line)))(describeBackend(info));
        return info;
      },
      (error: unknown) => {
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

async function selectBackend(options: InitBackendOptions): Promise<BackendInfo> {
  if (options.backend !== undefined) {
    if (!(BACKEND_NAMES as readonly string[]).includes(options.backend)) {
      throw new SslError(
        'backend',
        `Unknown backend ${formatValue(options.backend)} in initBackend({ backend }): use one of ${BACKEND_NAMES.join(', ')}.`,
        { details: { value: options.backend, valid: BACKEND_NAMES } },
      );
    }
    return startBackend(options.backend, options, 'asked for by the backend option');
  }
  const skipped: string[] = [];
  for (const name of ['webgpu', 'webgl'] as const) {
    const missing = gpuBackendMissing(name);
    if (missing !== undefined) {
      skipped.push(`${name}: ${missing}`);
      continue;
    }
    try {
      return await startBackend(name, options, skipped.length === 0 ? 'fastest available' : `fastest available (${skipped.join('; ')})`);
    } catch (error) {
      skipped.push(`${name}: ${errorMessage(error)}`);
    }
  }
  try {
    return await startBackend('wasm', options, `default (${skipped.join('; ')})`);
  } catch (error) {
    skipped.push(`wasm: ${errorMessage(error)}`);
  }
  return startBackend('cpu', options, `last resort, hundreds of times slower than wasm (${skipped.join('; ')})`);
}

/** Why a GPU backend is not a candidate, or undefined when it is. */
function gpuBackendMissing(name: 'webgpu' | 'webgl'): string | undefined {
  if (!tf.findBackendFactory(name)) return `@tensorflow/tfjs-backend-${name} not imported by the page`;
  if (name === 'webgpu' && !(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) return 'this browser has no navigator.gpu';
  return undefined;
}

async function startBackend(name: BackendName, options: InitBackendOptions, reason: string): Promise<BackendInfo> {
  switch (name) {
    case 'webgpu':
    case 'webgl': {
      const missing = gpuBackendMissing(name);
      if (missing !== undefined) throw new SslError('backend', `Backend '${name}' cannot run: ${missing}.`);
      await activate(name);
      return { name, tfjsBackend: name, threads: 1, simd: false, reason };
    }
    case 'wasm':
      return startWasm(options, reason);
    case 'cpu':
      await activate('cpu');
      return { name, tfjsBackend: 'cpu', threads: 1, simd: false, reason };
  }
}

async function startWasm(options: InitBackendOptions, reason: string): Promise<BackendInfo> {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  const threads = options.threads ?? (isolated ? cores : 1);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new SslError(
      'invalid-config',
      `Invalid thread count ${formatValue(threads)} in initBackend({ threads }): expected an integer >= 1.`,
    );
  }
  if (options.wasmPaths !== undefined) tfWasm.setWasmPaths(options.wasmPaths);
  tfWasm.setThreadsCount(threads);
  registerWasmTrainingKernels();
  await activate('wasm');
  const actualThreads = tfWasm.getThreadsCount();
  await precompileSimdKernels(asWasmBackend(tf.backend()));
  // The Node helper thread for the SIMD filter gradient needs worker_threads; in a page the kernel runs on
  // the calling thread.
  setSimdHelperThread(undefined);
  let threadNote = '';
  if (threads > 1 && !isolated) threadNote = 'single-threaded: the page is not cross-origin isolated (no SharedArrayBuffer)';
  else if (actualThreads < threads) threadNote = `${actualThreads} of ${threads} requested threads`;
  else if (threads === 1 && !isolated) threadNote = 'single-threaded: the page is not cross-origin isolated';
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

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
