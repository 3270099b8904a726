// The backend part of the browser entry: selection among webgpu, webgl, wasm and cpu (select-browser.ts).
export { initBackend, backendInfo, describeBackend, BACKEND_NAMES } from './select-browser';
export type { BackendName, BackendInfo, InitBackendOptions } from './select-browser';
export { registerWasmTrainingKernels } from './kernels/index';
