/**
 * Our own WebAssembly SIMD kernels (kernels.c), instantiated on tfjs-backend-wasm's memory so they read
 * and write tensors in place: pointers are byte offsets into the tfjs heap, exactly the `memoryOffset`
 * the backend keeps for each tensor.
 *
 * They run on the calling thread only (they cannot join XNNPACK's thread pool). When the module cannot
 * be set up — a tfjs build that hides its memory, a runtime without wasm SIMD — `simdKernels()` returns
 * undefined and the kernels built on XNNPACK (or plain JS) are used instead: slower, same results up to
 * float32 summation order.
 */
import { SIMD_KERNELS_WASM, SIMD_KERNELS_WASM_SHARED } from './kernels.generated';
export { FILTER_GRADIENT_ROWS_PER_CHUNK, FILTER_GRADIENT_TILE_M } from './kernels.generated';
import type { WasmBackend } from '../wasm-internals';

// The compiler options carry no DOM lib, where the WebAssembly types live; these are the parts used here.
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
export type WasmModule = object;
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: unknown };
  Memory: abstract new (...args: never[]) => WasmMemory;
  compile(bytes: Uint8Array): Promise<WasmModule>;
}
const webAssembly = (globalThis as unknown as { WebAssembly?: WebAssemblyApi }).WebAssembly;

/** The exports of kernels.c; every pointer is a byte offset into the tfjs heap. */
export interface SimdKernels {
  conv2d_filter_gradient(
    xp: number,
    dy: number,
    dw: number,
    batch: number,
    paddedHeight: number,
    paddedWidth: number,
    inChannels: number,
    outHeight: number,
    outWidth: number,
    outChannels: number,
    filterHeight: number,
    filterWidth: number,
    strideHeight: number,
    strideWidth: number,
    dilationHeight: number,
    dilationWidth: number,
    rowBases: number,
    columnOffsets: number,
    mBegin: number,
    mEnd: number,
  ): void;
  sum_rows(x: number, out: number, rows: number, width: number, totals: number): void;
  pad_spatial(
    x: number,
    xp: number,
    batch: number,
    height: number,
    width: number,
    channels: number,
    top: number,
    left: number,
    paddedHeight: number,
    paddedWidth: number,
  ): void;
  batch_norm_forward(
    x: number,
    gamma: number,
    beta: number,
    y: number,
    xHat: number,
    mean: number,
    variance: number,
    inverseStd: number,
    rows: number,
    channels: number,
    epsilon: number,
    totals: number,
  ): void;
  batch_norm_backward(
    dy: number,
    xHat: number,
    mean: number,
    gamma: number,
    inverseStd: number,
    dx: number,
    dGamma: number,
    dBeta: number,
    rows: number,
    channels: number,
    totals: number,
  ): void;
  batch_matmul(
    a: number,
    b: number,
    c: number,
    first: number,
    last: number,
    m: number,
    k: number,
    n: number,
    aStride: number,
    cStride: number,
  ): void;
  gemm_pack_b(b: number, packed: number, k: number, n: number, transposed: number, panelBegin: number, panelEnd: number): void;
  gemm_packed(
    a: number,
    packed: number,
    bias: number,
    c: number,
    mBegin: number,
    mEnd: number,
    k: number,
    n: number,
    rowStride: number,
    depthStride: number,
  ): void;
  transpose_last_two(x: number, y: number, batch: number, rows: number, columns: number): void;
  scale_shift_channels(x: number, scale: number, shift: number, y: number, rows: number, channels: number): void;
  layer_norm_forward(
    x: number,
    gamma: number,
    beta: number,
    y: number,
    xHat: number,
    inverseStd: number,
    first: number,
    last: number,
    width: number,
    epsilonBits: number,
  ): void;
  layer_norm_backward(
    dy: number,
    xHat: number,
    gamma: number,
    inverseStd: number,
    dx: number,
    first: number,
    last: number,
    width: number,
  ): void;
  layer_norm_parameter_gradients(
    dy: number,
    xHat: number,
    dGamma: number,
    dBeta: number,
    rows: number,
    width: number,
    first: number,
    last: number,
    totals: number,
  ): void;
  erf_f32(x: number, y: number, count: number): void;
  relu_f32(x: number, y: number, count: number): void;
  step_f32(x: number, y: number, count: number, alphaBits: number): void;
  binary_f32(a: number, b: number, y: number, count: number, op: number): void;
  add_bias_f32(x: number, bias: number, y: number, rows: number, channels: number): void;
  gelu_tanh_forward(x: number, y: number, gate: number, count: number): void;
  gelu_tanh_backward(dy: number, x: number, gate: number, dx: number, count: number): void;
  gelu_exact_forward(x: number, y: number, cdf: number, count: number): void;
  winograd_input_transform(
    x: number,
    v: number,
    height: number,
    width: number,
    channels: number,
    padTop: number,
    padLeft: number,
    tilesHeight: number,
    tilesWidth: number,
    plane: number,
    first: number,
    last: number,
  ): void;
  winograd_output_transform(
    m: number,
    y: number,
    outHeight: number,
    outWidth: number,
    channels: number,
    tilesHeight: number,
    tilesWidth: number,
    plane: number,
    first: number,
    last: number,
  ): void;
  winograd_gradient_transform(
    dy: number,
    dm: number,
    outHeight: number,
    outWidth: number,
    channels: number,
    tilesHeight: number,
    tilesWidth: number,
    plane: number,
    first: number,
    last: number,
  ): void;
  winograd_filter_products(
    v: number,
    dm: number,
    du: number,
    first: number,
    last: number,
    tiles: number,
    inChannels: number,
    outChannels: number,
    block: number,
    accumulate: number,
    vPlane: number,
    dmPlane: number,
  ): void;
  winograd_filter_transform(g: number, u: number, inChannels: number, outChannels: number): void;
  winograd_filter_adjoint(du: number, dg: number, inChannels: number, outChannels: number): void;
  col2im(
    dp: number,
    dx: number,
    batch: number,
    height: number,
    width: number,
    channels: number,
    outHeight: number,
    outWidth: number,
    filterHeight: number,
    filterWidth: number,
    strideHeight: number,
    strideWidth: number,
    dilationHeight: number,
    dilationWidth: number,
    padTop: number,
    padLeft: number,
  ): void;
  max_pool_2x2_gradient(
    x: number,
    dy: number,
    dx: number,
    batch: number,
    height: number,
    width: number,
    channels: number,
    outHeight: number,
    outWidth: number,
  ): void;
}

/** The kernels.c exports the helper thread can run. */
export const HELPER_KERNELS = [
  'conv2d_filter_gradient',
  'batch_matmul',
  'gelu_tanh_forward',
  'gelu_tanh_backward',
  'gelu_exact_forward',
  'winograd_input_transform',
  'winograd_output_transform',
  'winograd_gradient_transform',
  'winograd_filter_products',
  'gemm_pack_b',
  'gemm_packed',
  'layer_norm_forward',
  'layer_norm_backward',
  'layer_norm_parameter_gradients',
  'erf_f32',
  'relu_f32',
  'step_f32',
  'binary_f32',
  'add_bias_f32',
  'max_pool_2x2_gradient',
  'col2im',
] as const;
export type HelperKernel = (typeof HELPER_KERNELS)[number];

/**
 * A second thread running kernels.c exports on the same shared heap (simd-helper-thread.ts).
 * `start` hands it one call of `kernel` and its arguments and returns false when it is not ready (the caller then does
 * all the work); `finish` blocks until that call is done.
 */
export interface SimdHelperThread {
  readonly memory: WasmMemory;
  start(kernel: HelperKernel, args: number[]): boolean;
  finish(): void;
  /** Stops the worker (when a new backend replaces this one's heap). */
  terminate(): void;
}

const compiled = new Map<boolean, WasmModule>();
const instances = new WeakMap<WasmMemory, SimdKernels | null>();
let helperThread: SimdHelperThread | undefined;
let disabled = false;

/** For tests and benchmarks: run the XNNPACK-based kernels even where the SIMD module works. */
export function setSimdKernelsEnabled(enabled: boolean): void {
  disabled = !enabled;
}

/** The module's bytes: the shared-memory variant for tfjs's threaded build, the plain one otherwise. */
function wasmBytes(shared: boolean): Uint8Array {
  const binary = atob(shared ? SIMD_KERNELS_WASM_SHARED : SIMD_KERNELS_WASM);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function compiledSimdModule(shared: boolean): WasmModule {
  let module = compiled.get(shared);
  if (module === undefined) {
    if (webAssembly === undefined) throw new Error('no WebAssembly in this runtime');
    module = new webAssembly.Module(wasmBytes(shared));
    compiled.set(shared, module);
  }
  return module;
}

/**
 * Compiles, ahead of use, the variant this backend's memory needs. Optional: `simdKernels()` compiles on
 * first use, but browsers may refuse synchronous compilation on their main thread, so initBackend() calls this.
 */
export async function precompileSimdKernels(backend: WasmBackend): Promise<void> {
  const memory = backendMemory(backend);
  if (webAssembly === undefined || memory === undefined) return;
  const shared = isSharedMemory(memory);
  if (compiled.has(shared)) return;
  try {
    compiled.set(shared, await webAssembly.compile(wasmBytes(shared)));
  } catch {
    // No wasm SIMD here: simdKernels() will report undefined.
  }
}

/** tfjs-backend-wasm's WebAssembly.Memory: `wasmMemory` in its threaded build, the instance's export otherwise. */
export function backendMemory(backend: WasmBackend): WasmMemory | undefined {
  const module = backend.wasm as unknown as { wasmMemory?: unknown; asm?: { memory?: unknown } };
  const memory = module.wasmMemory ?? module.asm?.memory;
  return webAssembly !== undefined && memory instanceof webAssembly.Memory ? memory : undefined;
}

export function isSharedMemory(memory: WasmMemory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

/** Installed by initBackend() when the wasm backend runs threaded under Node; cleared with undefined. */
export function setSimdHelperThread(thread: SimdHelperThread | undefined): void {
  if (helperThread !== undefined && helperThread !== thread) helperThread.terminate();
  helperThread = thread;
}

/** The helper thread bound to this backend's memory, if one runs. */
export function simdHelperThread(backend: WasmBackend): SimdHelperThread | undefined {
  return helperThread !== undefined && helperThread.memory === backendMemory(backend) ? helperThread : undefined;
}

/**
 * Runs one of the helper-capable kernels over the range [0, total) split at `split`: the helper thread takes
 * [split, total) while this thread does [0, split), or this thread does all of it when `twoThreads` is false
 * or no helper is ready. `argsFor(thread, begin, end)` builds a call's arguments (thread 0 or 1, so each can
 * have its own scratch); the two ranges must write disjoint memory.
 */
export function runOnTwoThreads(
  backend: WasmBackend,
  kernels: SimdKernels,
  kernel: HelperKernel,
  argsFor: (thread: 0 | 1, begin: number, end: number) => number[],
  split: number,
  total: number,
  twoThreads: boolean,
): void {
  const helper = twoThreads ? simdHelperThread(backend) : undefined;
  const shared = helper?.start(kernel, argsFor(1, split, total)) === true;
  try {
    (kernels[kernel] as (...args: number[]) => void)(...argsFor(0, 0, shared ? split : total));
  } finally {
    if (shared) helper?.finish();
  }
}

/** The SIMD kernels bound to this backend's heap, or undefined where they cannot run (see above). */
export function simdKernels(backend: WasmBackend): SimdKernels | undefined {
  if (disabled) return undefined;
  const memory = backendMemory(backend);
  if (memory === undefined) return undefined;
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    try {
      if (webAssembly === undefined) throw new Error('no WebAssembly in this runtime');
      const instance = new webAssembly.Instance(compiledSimdModule(isSharedMemory(memory)), { env: { memory } });
      kernels = instance.exports as unknown as SimdKernels;
    } catch {
      kernels = null;
    }
    instances.set(memory, kernels);
  }
  return kernels ?? undefined;
}
