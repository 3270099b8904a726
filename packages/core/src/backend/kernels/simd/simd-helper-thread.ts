/**
 * A second thread for kernels.c's filter gradient and batched matmul, under Node with tfjs-backend-wasm's threaded build.
 *
 * XNNPACK's thread pool is private to tfjs's C++; our kernel cannot join it. But the threaded build's
 * heap is a shared WebAssembly.Memory, so a worker_threads worker can instantiate the same SIMD module on
 * it and compute half of dw while the calling thread computes the other half. The call stays synchronous
 * (a tfjs kernel must return its output): the caller posts the arguments in a SharedArrayBuffer, wakes the
 * worker with Atomics.notify, does its half, and waits with Atomics.wait.
 */
import { Worker } from 'node:worker_threads';

import { SslError } from '../../../errors';
import {
  compiledSimdModule,
  HELPER_KERNELS,
  isSharedMemory,
  type HelperKernel,
  type SimdHelperThread,
  type WasmMemory,
} from './simd-kernels';

// Control block (Int32Array): the state word, the ready word, which kernel, then the call's arguments.
const STATE = 0;
const READY = 1;
const KERNEL = 2;
const ARGS = 3;
const ARG_COUNT = 20;
const IDLE = 0;
const POSTED = 1;
const DONE = 2;
const FAILED = 3;
/** A call that takes longer than this means the worker died (its results would be garbage anyway). */
const TIMEOUT_MS = 120_000;

// Runs as CommonJS in the worker (eval: true). Kept free of any import so it starts in milliseconds.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control } = workerData;
const moduleExports = new WebAssembly.Instance(module, { env: { memory } }).exports;
const kernels = ${JSON.stringify(HELPER_KERNELS)}.map((name) => moduleExports[name]);
const words = new Int32Array(control);
Atomics.store(words, ${READY}, 1);
Atomics.notify(words, ${READY});
for (;;) {
  // Sleep until the state leaves whatever it is now: IDLE before a call, but also DONE or FAILED after one, until
  // the caller's finish() sets IDLE (waiting on IDLE alone returned at once then, and the worker spun).
  const state = Atomics.load(words, ${STATE});
  if (state !== ${POSTED}) {
    Atomics.wait(words, ${STATE}, state);
    continue;
  }
  let outcome = ${DONE};
  try {
    kernels[words[${KERNEL}]](...words.subarray(${ARGS}, ${ARGS + ARG_COUNT}));
  } catch (error) {
    outcome = ${FAILED};
  }
  Atomics.store(words, ${STATE}, outcome);
  Atomics.notify(words, ${STATE});
}
`;

class WorkerHelperThread implements SimdHelperThread {
  private readonly words: Int32Array;
  private readonly worker: Worker;

  constructor(readonly memory: WasmMemory) {
    const control = new SharedArrayBuffer(4 * (ARGS + ARG_COUNT));
    this.words = new Int32Array(control);
    // No execArgv: the parent's loaders (tsx, --conditions) are not needed and would slow the start.
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { module: compiledSimdModule(true), memory, control },
    });
    // The worker blocks in Atomics.wait between calls; it must not keep the process alive.
    this.worker.unref();
    this.worker.on('error', () => Atomics.store(this.words, READY, 0));
  }

  start(kernel: HelperKernel, args: number[]): boolean {
    if (Atomics.load(this.words, READY) !== 1 || Atomics.load(this.words, STATE) !== IDLE) return false;
    this.words[KERNEL] = HELPER_KERNELS.indexOf(kernel);
    this.words.set(args, ARGS);
    Atomics.store(this.words, STATE, POSTED);
    Atomics.notify(this.words, STATE);
    return true;
  }

  finish(): void {
    const deadline = Date.now() + TIMEOUT_MS;
    while (Atomics.load(this.words, STATE) === POSTED) {
      if (Date.now() > deadline) {
        Atomics.store(this.words, READY, 0);
        throw new SslError(
          'backend',
          'The SIMD helper thread did not finish a kernel call within 2 minutes; it is disabled for the rest of this run.',
        );
      }
      Atomics.wait(this.words, STATE, POSTED, 1000);
    }
    const state = Atomics.load(this.words, STATE);
    Atomics.store(this.words, STATE, IDLE);
    if (state === FAILED) {
      Atomics.store(this.words, READY, 0);
      throw new SslError('backend', 'The SIMD helper thread failed in a kernel; it is disabled for the rest of this run.');
    }
  }

  terminate(): void {
    Atomics.store(this.words, READY, 0);
    void this.worker.terminate();
  }
}

/**
 * Starts the helper thread on a shared heap (returns undefined for a plain one: the single-threaded
 * build has no second thread to give). It becomes useful once its worker has started, a few ms later.
 */
export function startSimdHelperThread(memory: WasmMemory): SimdHelperThread | undefined {
  if (!isSharedMemory(memory)) return undefined;
  return new WorkerHelperThread(memory);
}
