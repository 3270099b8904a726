export { train } from './trainer';
export { variableGrads } from './gradients';
export type { EpochContext, StepRecord, TrainCallback, TrainData, TrainOptions, TrainResult, TrainStartInfo } from './trainer';
export { createOptimizer, clipByGlobalNorm, resolveOptimizerSpec } from './optimizers';
export type { Optimizer } from './optimizers';
export { learningRateAt, validateSchedule } from './schedules';
export { emaUpdate, copyWeights, cosineMomentum } from './ema';
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
export { withSeededMathRandom, streamRandom } from './seeded';
export { planRun, buildEncoder, validateAnyEncoderSpec } from './plan';
export type { AnyEncoderSpec, RunPlan } from './plan';
export { CORE_DATA_KINDS, defineDataKind, gatherSampleImages } from './data-kinds';
export type { BatchRequest, BatchSource, DataKindDefinition, MadeBatch, RunViews } from './data-kinds';
export { RunPools, rangeIds } from './pools';
export type { Pool, PoolLimits, PoolView, Pools } from './pools';
export { tensorsIn } from './training-step';
export { loadRun, saveProducts, PRODUCTS_DIR, PRODUCTS_INDEX } from './products';
export type { LoadedProduct, LoadedRun, ProductKind, ProductsIndex } from './products';
export { acquireRunLock, releaseRunLock, readRunLock, checkRunLock, RUN_LOCK_FILE } from './run-lock';
export type { RunLockOwner } from './run-lock';
export { checkOutputDirectory, prepareOutputDirectory, OUTPUT_DIRECTORY_TIMEOUT_MS } from './output-directory';
export { nonFiniteNames } from './divergence-guard';
export type { DivergenceGuardOptions } from './divergence-guard';
