/**
 * Everything the browser entry exports, registering nothing: what runs anywhere (portable.ts and each
 * folder's portable.ts), backend selection among webgpu/webgl/wasm/cpu, and `train` keeping runs in a
 * `RunStore` (memory by default) instead of a directory. Left out, because a page has no file system or
 * Node threads: run directories, checkpoint files, products on disk, IDX/image files from paths, plugin
 * discovery in node_modules and the Node wasm thread pool.
 */
export * from './portable';
export * from './backend/browser';
export * from './data/portable';
export * from './nn/portable';
export * from './registry/portable';
export * from './train/portable';
export { train } from './train/train-in-browser';
// Types only (erased from the bundle): plugins' signatures name a run loaded by Node's loadRun, and @ssl/clip's
// audio methods the clips Node's loadSpokenClasses reads (a page builds the same shape from fetched files).
export type { LoadedProduct, LoadedRun, ProductKind, ProductsIndex } from './train/products';
export type { AudioDataset } from './audio/spoken-classes';
