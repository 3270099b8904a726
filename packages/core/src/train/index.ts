export * from './portable';
export { train } from './trainer';
export {
  saveCheckpoint,
  readCheckpoint,
  latestCheckpoint,
  findCheckpoint,
  describeDamage,
  restoreVariables,
  encodeSafetensors,
  decodeSafetensors,
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
} from './checkpoint';
export type { CheckpointFileRecord, CheckpointManifest, DamagedCheckpoint, JsonValue, LoadedCheckpoint, StoredTensor } from './checkpoint';
export { loadRun, saveProducts, PRODUCTS_DIR, PRODUCTS_INDEX } from './products';
export type { LoadedProduct, LoadedRun, ProductKind, ProductsIndex } from './products';
export { acquireRunLock, releaseRunLock, readRunLock, checkRunLock, RUN_LOCK_FILE } from './run-lock';
export type { RunLockOwner } from './run-lock';
export { checkOutputDirectory, prepareOutputDirectory, OUTPUT_DIRECTORY_TIMEOUT_MS } from './output-directory';
