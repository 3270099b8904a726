import type { HeldOutFigure, MethodHandle, TrainResult } from '@ssl/core';
import type { LabeledImageDataset } from './types';

/**
 * The method's own task on held-out data (`MethodRuntime.heldOutTask`), or undefined when the method reports
 * none or there is no held-out data in its form. `heldOut` defaults to the test images for methods that train
 * on unlabeled images; other data kinds (image–audio pairs) must be given theirs.
 */
export async function evaluateHeldOutTask(options: {
  run: TrainResult;
  method: MethodHandle;
  test: LabeledImageDataset;
  heldOut?: unknown;
  seed: number;
}): Promise<readonly HeldOutFigure[] | undefined> {
  const { run, method } = options;
  if (!run.runtime.heldOutTask) return undefined;
  const heldOut = options.heldOut ?? (method.definition.data === 'unlabeled' ? options.test : undefined);
  if (heldOut === undefined) return undefined;
  return run.runtime.heldOutTask(heldOut, { seed: options.seed });
}

/** How far the figure is from its reference, in the reader's terms: points of accuracy, or the change of an error in percent. */
export function heldOutMargin(figure: HeldOutFigure): string {
  if (figure.kind === 'accuracy') {
    const points = 100 * (figure.value - figure.reference.value);
    return `${points >= 0 ? '+' : ''}${points.toFixed(1)} pts`;
  }
  const change = 100 * (figure.value / figure.reference.value - 1);
  return `${change >= 0 ? '+' : ''}${change.toFixed(0)}%`;
}

/** `91.2%` for an accuracy, four significant digits for an error. */
export function formatHeldOutValue(figure: HeldOutFigure, value = figure.value): string {
  return figure.kind === 'accuracy' ? `${(100 * value).toFixed(1)}%` : value.toPrecision(4);
}
