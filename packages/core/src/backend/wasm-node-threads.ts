/**
 * Multi-threaded tfjs-backend-wasm under Node.
 *
 * tfjs-backend-wasm 4.22 ships a threaded SIMD build, but under Node it never uses it:
 * - its `WASM_HAS_MULTITHREAD_SUPPORT` flag is hard-wired to false when `IS_NODE` (tfjs issue #3830);
 * - forcing the flag on does not help, because its loader hands emscripten `blob:` URLs for the pthread
 *   worker script and for the main script, and Node's `worker_threads` can only start workers from files;
 * - its C++ side caps the thread count at `emscripten_num_logical_cores() / 2` (it assumes two
 *   hyper-threads per core), so on a 2-core machine it uses 1 thread whatever `setThreadsCount` says.
 *
 * Emscripten's own Node pthread support works once both scripts are files. So we replace the `wasm`
 * backend factory by one that starts the threaded build with: the pthread worker script written once to
 * a cache file (its text ships inside tfjs-backend-wasm as a string), the main script loaded from the
 * installed package file, and a logical-core count that makes the C++ cap equal the requested threads.
 * Everything comes from the installed tfjs-backend-wasm, so this works for anyone who installs @ssl/core,
 * with no patch of node_modules.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker as NodeWorker, type WorkerOptions } from 'node:worker_threads';

import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const WASM = 'wasm';
/** Priority tfjs-backend-wasm registers its factory with; kept so backend auto-selection is unchanged. */
const WASM_PRIORITY = 2;
const PACKAGE = '@tensorflow/tfjs-backend-wasm';
const GLUE_FILE = 'wasm-out/tfjs-backend-wasm-threaded-simd.js';
const WORKER_TEXT_FILE = 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js';
const BINARY_FILE = 'tfjs-backend-wasm-threaded-simd.wasm';

/** The emscripten Node.js worker object (a worker_threads Worker). */
interface PthreadWorker {
  unref(): void;
  terminate(): unknown;
}

interface EmscriptenThreadedModule {
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: number[]) => number;
  PThread: { unusedWorkers: PthreadWorker[]; runningWorkers: PthreadWorker[] };
  [heapView: string]: unknown;
}

// The compiler options carry no DOM lib, where the WebAssembly types live; these are the parts used here.
interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
type WasmInstance = object;
type WasmCompiledModule = object;
interface WebAssemblyApi {
  instantiate(binary: Uint8Array, imports: object): Promise<{ instance: WasmInstance; module: WasmCompiledModule }>;
}
const webAssembly = (globalThis as unknown as { WebAssembly?: WebAssemblyApi }).WebAssembly;

interface WasmImports {
  env: Record<string, unknown> & { memory?: WasmMemory };
  [module: string]: unknown;
}

interface EmscriptenFactoryConfig {
  locateFile(file: string, prefix: string): string;
  instantiateWasm(imports: WasmImports, receiveInstance: (instance: WasmInstance, module: WasmCompiledModule) => void): object;
}

type ThreadedFactory = (config: EmscriptenFactoryConfig) => Promise<EmscriptenThreadedModule>;

/** What happened to the last attempt to start the threaded build (read after `tf.setBackend('wasm')`). */
export interface ThreadedWasmOutcome {
  threaded: boolean;
  /** Why the threaded build is not in use, when it is not. */
  failure?: string;
}

let lastOutcome: ThreadedWasmOutcome | undefined;

export function threadedWasmOutcome(): ThreadedWasmOutcome | undefined {
  return lastOutcome;
}

// tsup's `shims` provide import.meta.url in the CJS build.
const requireFromHere = createRequire(import.meta.url);

/** True where emscripten's Node pthreads can run: Node with worker_threads and SharedArrayBuffer. */
export function canRunNodeThreads(): boolean {
  return (
    typeof process !== 'undefined' &&
    typeof process.versions?.node === 'string' &&
    typeof SharedArrayBuffer === 'function' &&
    webAssembly !== undefined
  );
}

/** True once the `wasm` backend instance exists (from then on its factory can no longer be replaced). */
export function wasmBackendInitialized(): boolean {
  const registry = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  return registry[WASM] !== undefined;
}

/**
 * Replaces the `wasm` backend factory by one that starts the threaded SIMD build with `threads` threads,
 * falling back to tfjs-backend-wasm's own (single-threaded under Node) factory if that fails. Must run
 * before the `wasm` backend is initialized; returns false (and changes nothing) otherwise.
 */
export function installThreadedWasmFactory(threads: number): boolean {
  if (wasmBackendInitialized()) return false;
  const originalFactory = tf.findBackendFactory(WASM);
  if (originalFactory === null) return false;
  tf.removeBackend(WASM);
  tf.registerBackend(
    WASM,
    async () => {
      try {
        const backend = await startThreadedWasm(threads);
        lastOutcome = { threaded: true };
        return backend;
      } catch (error) {
        lastOutcome = { threaded: false, failure: error instanceof Error ? error.message : String(error) };
        return originalFactory();
      }
    },
    WASM_PRIORITY,
  );
  return true;
}

async function startThreadedWasm(threads: number): Promise<BackendWasm> {
  const wasmApi = webAssembly;
  if (wasmApi === undefined) throw new Error('this runtime has no WebAssembly');
  const gluePath = requireFromHere.resolve(`${PACKAGE}/${GLUE_FILE}`);
  const binaryPath = path.join(path.dirname(gluePath), BINARY_FILE);
  const workerPath = writeWorkerScript();
  const factory = requireFromHere(gluePath) as ThreadedFactory;
  const binary = fs.readFileSync(binaryPath);

  let memory: WasmMemory | undefined;
  let failInstantiation: (error: unknown) => void = () => {};
  const instantiationFailed = new Promise<never>((_resolve, reject) => {
    failInstantiation = reject;
  });
  // Emscripten's MODULARIZE factory fills in and resolves to this same object, so `PThread` is on it
  // by the time instantiateWasm runs.
  const config: EmscriptenFactoryConfig = {
    locateFile: (file, prefix) => {
      if (file.endsWith('.worker.js')) return workerPath;
      if (file.endsWith('.wasm')) return binaryPath;
      return prefix + file;
    },
    instantiateWasm: (imports, receiveInstance) => {
      memory = imports.env.memory;
      // num_cores in backend.cc is emscripten_num_logical_cores() / 2 and caps the pool size.
      const env = { ...imports.env, emscripten_num_logical_cores: () => 2 * threads };
      // Emscripten preallocates 8 pthread workers (each a V8 isolate with its own wasm instance);
      // pthreadpool needs threads - 1 of them. Keep one spare and stop the rest before they load.
      const workers = (config as unknown as Partial<EmscriptenThreadedModule>).PThread?.unusedWorkers;
      if (workers !== undefined && workers.length > threads) {
        for (const worker of workers.splice(threads)) void worker.terminate();
      }
      wasmApi
        .instantiate(binary, { ...imports, env, wasi_snapshot_preview1: env })
        .then((result) => receiveInstance(result.instance, result.module), failInstantiation);
      return {};
    },
  };
  let module: EmscriptenThreadedModule;
  try {
    module = await withoutGlueProcessHandlers(() =>
      withWorkerExecArgvFiltered(failInstantiation, () => Promise.race([factory(config), instantiationFailed])),
    );
    if (memory === undefined) throw new Error('the threaded wasm build did not import its memory');
  } catch (error) {
    // Fall back without leaving live workers behind (they would keep the process from exiting).
    const pthreads = (config as unknown as Partial<EmscriptenThreadedModule>).PThread;
    for (const worker of [...(pthreads?.unusedWorkers ?? []), ...(pthreads?.runningWorkers ?? [])]) void worker.terminate();
    throw error;
  }
  keepHeapViewsFresh(module, memory);
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  // The constructor creates the XNNPACK thread pool (init_with_threads_count(setThreadsCount value)).
  const backend = new BackendWasm(module as unknown as ConstructorParameters<typeof BackendWasm>[0]);
  // Pool threads are parked on a futex between kernels; a referenced worker would keep Node from
  // exiting when the program is done, so let the event loop ignore them.
  for (const worker of [...module.PThread.runningWorkers, ...module.PThread.unusedWorkers]) worker.unref();
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  return backend;
}

/**
 * Emscripten's Node glue installs `uncaughtException` and `unhandledRejection` handlers that rethrow
 * from inside the minified glue, so any later error in the program is reported with ~100 KB of glue
 * source instead of its own stack. Node's defaults already end the process on both, so the handlers
 * add nothing; remove the ones the factory call added.
 */
async function withoutGlueProcessHandlers<T>(run: () => Promise<T>): Promise<T> {
  const exceptionHandlers = new Set(process.listeners('uncaughtException'));
  const rejectionHandlers = new Set(process.listeners('unhandledRejection'));
  try {
    return await run();
  } finally {
    for (const handler of process.listeners('uncaughtException')) {
      if (!exceptionHandlers.has(handler)) process.removeListener('uncaughtException', handler);
    }
    for (const handler of process.listeners('unhandledRejection')) {
      if (!rejectionHandlers.has(handler)) process.removeListener('unhandledRejection', handler);
    }
  }
}

/**
 * Node starts workers with the parent's `execArgv`. Options that only make sense for the main entry
 * (`--input-type`, `--eval`, `--print`) make a file-based worker fail to start, so emscripten's
 * `new Worker(file)` must not pass them on. The glue assigns `global.Worker` when the factory runs and
 * creates its workers right after, so during that call `Worker` reads as a filtering subclass; the
 * global is restored (to what the glue assigned) afterwards.
 */
async function withWorkerExecArgvFiltered<T>(failStart: (error: unknown) => void, run: () => Promise<T>): Promise<T> {
  const globals = globalThis as unknown as { Worker?: unknown };
  const previous = Object.getOwnPropertyDescriptor(globals, 'Worker');
  let assigned: unknown = globals.Worker;
  let started = false;
  class FilteredExecArgvWorker extends NodeWorker {
    constructor(file: string | URL, options: WorkerOptions = {}) {
      super(file, { execArgv: workerExecArgv(process.execArgv), ...options });
    }

    // Emscripten's error listener rethrows, which would crash the process; while the backend is
    // starting, a worker that fails to start makes the start fail instead (and tfjs-backend-wasm's own
    // single-threaded build is used).
    // Node's own listener type for any event (its last overload), so the override accepts what Worker accepts.
    override on(event: string | symbol, listener: Parameters<NodeWorker['on']>[1]): this {
      if (event !== 'error') return super.on(event, listener);
      return super.on(event, (error: unknown) => (started ? listener(error) : failStart(error)));
    }
  }
  Object.defineProperty(globals, 'Worker', {
    configurable: true,
    get: () => FilteredExecArgvWorker,
    set: (value: unknown) => {
      assigned = value;
    },
  });
  try {
    const result = await run();
    started = true;
    return result;
  } finally {
    if (assigned !== undefined)
      Object.defineProperty(globals, 'Worker', { configurable: true, writable: true, enumerable: true, value: assigned });
    else if (previous !== undefined) Object.defineProperty(globals, 'Worker', previous);
    else delete globals.Worker;
  }
}

const ENTRY_ONLY_OPTIONS_WITH_VALUE = new Set(['--input-type', '--eval', '-e', '--print', '-p']);

export function workerExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const option = execArgv[i];
    const name = option.split('=')[0];
    if (ENTRY_ONLY_OPTIONS_WITH_VALUE.has(name)) {
      if (!option.includes('=')) i++;
      continue;
    }
    kept.push(option);
  }
  return kept;
}

/**
 * Writes the pthread worker script to a cache file named by its content hash (so versions never mix)
 * and returns its path. Written to a temporary name then renamed, so processes starting together never
 * read a half-written file.
 */
function writeWorkerScript(): string {
  const { wasmWorkerContents } = requireFromHere(`${PACKAGE}/${WORKER_TEXT_FILE}`) as { wasmWorkerContents: string };
  // The text holds "\n" escapes that became real newlines inside string literals; tfjs's loader
  // escapes them again before making its blob, and so must we.
  const script = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(script).digest('hex').slice(0, 16);
  const directory = path.join(os.tmpdir(), 'ssl-tfjs-wasm');
  // .cjs: the script uses require(), whatever package.json sits above the cache directory.
  const file = path.join(directory, `pthread-worker-${hash}.cjs`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(directory, { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  fs.writeFileSync(partial, script);
  fs.renameSync(partial, file);
  return file;
}

type HeapViewConstructor = new (buffer: ArrayBufferLike) => ArrayBufferView;

const HEAP_VIEWS: Record<string, HeapViewConstructor> = {
  HEAP8: Int8Array,
  HEAPU8: Uint8Array,
  HEAP16: Int16Array,
  HEAPU16: Uint16Array,
  HEAP32: Int32Array,
  HEAPU32: Uint32Array,
  HEAPF32: Float32Array,
  HEAPF64: Float64Array,
};

/**
 * With shared memory, growing the heap makes a new, longer SharedArrayBuffer, and emscripten's threaded
 * glue only refreshes `Module.HEAPU8` and friends lazily, on the next access from its own code. JS code
 * that reads `backend.wasm.HEAPU8` right after an allocation (tfjs's backend and our kernels do) could
 * see the old, shorter view. These getters hand out a view of the current buffer.
 */
function keepHeapViewsFresh(module: EmscriptenThreadedModule, memory: WasmMemory): void {
  for (const [name, View] of Object.entries(HEAP_VIEWS)) {
    let view = module[name] as ArrayBufferView | undefined;
    Object.defineProperty(module, name, {
      configurable: true,
      enumerable: true,
      get() {
        if (view === undefined || view.buffer !== memory.buffer) view = new View(memory.buffer);
        return view;
      },
      set(value: ArrayBufferView) {
        view = value;
      },
    });
  }
}
