import { RunPools, rangeIds } from '@ssl/core';
import type { BuildContext, ImageDataKind, MethodDataKind, MethodRuntime, StepContext } from '@ssl/core';

/*
 * Contexts for calling a method's build, step and afterStep by hand, as white-box method tests do: the
 * fields a test cares about, and what the trainer would pass for the rest in round 0 of a one-round run.
 */

/**
 * A build context of round 0, with no pools unless given and `sampleCount` 0 (no per-sample state) unless given.
 * `K`, the method's data kind, types `inputShape`: a text method's test passes `inputShape: undefined`.
 */
export function testBuildContext<Config, K extends MethodDataKind = ImageDataKind>(
  parts: Pick<BuildContext<Config, K>, 'config' | 'inputShape' | 'rng' | 'createEncoder'> & Partial<BuildContext<Config, K>>,
): BuildContext<Config, K> {
  const sampleCount = parts.sampleCount ?? 0;
  return {
    round: 0,
    sampleCount,
    pools: new RunPools({}, { sampleCount, numClasses: parts.numClasses }),
    ...parts,
  };
}

/** A step context of round 0. */
export function testStepContext(parts: Omit<StepContext, 'round'> & Partial<StepContext>): StepContext {
  return { round: 0, ...parts };
}

/** Sample ids offset..offset+count-1, the `indices` of a hand-made batch (semi-supervised: labeled ids first). */
export function sampleIds(count: number, offset = 0): Int32Array {
  return rangeIds(count, offset);
}

/** Frees what a hand-built runtime holds, as the trainer's dispose would: its networks and its state variables. */
export function disposeTestRuntime(runtime: Pick<MethodRuntime, 'trainable' | 'frozen' | 'state'>): void {
  for (const model of [...Object.values(runtime.trainable), ...Object.values(runtime.frozen ?? {})]) model.dispose();
  for (const variable of Object.values(runtime.state ?? {})) variable.dispose();
}
