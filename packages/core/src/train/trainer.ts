import { RunDirectory } from './run-directory';
import { runTraining } from './run-loop';
import type { TrainOptions, TrainResult } from './run-loop';

export type { EpochContext, StepRecord, TrainCallback, TrainData, TrainOptions, TrainResult, TrainStartInfo } from './run-loop';

/**
 * Runs a method (see run-loop.ts): in `options.store` when given, else in the run directory `outDir`
 * (config.json, metrics.jsonl, checkpoints/, encoder/, products/), else writing nothing.
 */
export function train(options: TrainOptions): Promise<TrainResult> {
  return runTraining(options, () => options.store ?? new RunDirectory(options.outDir, options.keepCheckpoints));
}
