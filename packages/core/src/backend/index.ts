export { initBackend, backendInfo, describeBackend, BACKEND_NAMES } from './select';
export type { BackendName, BackendInfo, InitBackendOptions } from './select';
export { registerWasmTrainingKernels } from './kernels/index';
