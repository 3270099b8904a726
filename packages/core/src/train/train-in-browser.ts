import { SslError } from '../errors';
import { runTraining } from './run-loop';
import type { TrainOptions, TrainResult } from './run-loop';
import { MemoryRunStore } from './run-store';

/**
 * `train` of the browser entry: the run is kept in `options.store` (a `MemoryRunStore` by default, which the
 * caller can keep to resume the run later). A page has no file system, so `outDir` is refused rather than ignored.
 */
export function train(options: TrainOptions): Promise<TrainResult> {
  return runTraining(options, () => {
    if (options.outDir !== undefined) {
      throw new SslError(
        'invalid-config',
        `train({ outDir: ${JSON.stringify(options.outDir)} }) writes to a file system, which a web page has not: pass a store (new MemoryRunStore()) instead.`,
      );
    }
    return options.store ?? new MemoryRunStore({ keepCheckpoints: options.keepCheckpoints });
  });
}
