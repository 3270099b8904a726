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

const signed = (text: string, value: number) => `${value >= 0 ? '+' : ''}${text}`;

/**
 * How far the figure is from its reference, in the reader's terms: points of accuracy, the change of an error in
 * percent, the difference of a score in its unit.
 */
export function heldOutMargin(figure: HeldOutFigure): string {
  const difference = figure.value - figure.reference.value;
  if (figure.kind === 'accuracy') return `${signed((100 * difference).toFixed(1), difference)} pts`;
  if (figure.kind === 'score') return `${signed(difference.toFixed(2), difference)}${figure.unit ? ` ${figure.unit}` : ''}`;
  const change = 100 * (figure.value / figure.reference.value - 1);
  return `${signed(change.toFixed(0), change)}%`;
}

/** `91.2%` for an accuracy, `4.25 dB` for a score, four significant digits for an error. */
export function formatHeldOutValue(figure: HeldOutFigure, value = figure.value): string {
  if (figure.kind === 'accuracy') return `${(100 * value).toFixed(1)}%`;
  if (figure.kind === 'score') return `${value.toFixed(2)}${figure.unit ? ` ${figure.unit}` : ''}`;
  return value.toPrecision(4);
}
