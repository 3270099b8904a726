export { train } from './trainer';
export type { EpochContext, StepRecord, TrainCallback, TrainData, TrainOptions, TrainResult, TrainStartInfo } from './trainer';
export { createOptimizer, clipByGlobalNorm, resolveOptimizerSpec } from './optimizers';
export type { Optimizer } from './optimizers';
export { learningRateAt, validateSchedule } from './schedules';
export { emaUpdate, copyWeights, cosineMomentum } from './ema';
export { saveCheckpoint, readCheckpoint, latestCheckpoint, restoreVariables, CHECKPOINT_FORMAT } from './checkpoint';
export type { CheckpointManifest, JsonValue, LoadedCheckpoint } from './checkpoint';
export { withSeededMathRandom, streamRandom } from './seeded';
