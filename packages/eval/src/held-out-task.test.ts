import { describe, expect, it } from 'vitest';
import type { HeldOutFigure, MethodHandle, TrainResult } from '@ssl/core';
import { evaluateHeldOutTask, formatHeldOutValue, heldOutMargin } from './held-out-task';
import { formatControlledEvaluation, type ControlledEvaluation } from './pretrain-and-compare';
import type { LabeledImageDataset } from './types';

const test = { images: new Uint8Array(4), shape: [2, 2, 1], size: 1, labels: new Int32Array([0]) } as LabeledImageDataset;
const accuracyFigure: HeldOutFigure = {
  name: 'rotation accuracy',
  kind: 'accuracy',
  value: 0.912,
  reference: { name: 'chance', value: 0.25 },
};
const scoreFigure: HeldOutFigure = { name: 'SNR', kind: 'score', unit: 'dB', value: 4.25, reference: { name: '½ mask', value: 3.55 } };
const errorFigure: HeldOutFigure = { name: 'patch MSE', kind: 'error', value: 0.03, reference: { name: 'per-position mean', value: 0.06 } };

/** A finished run whose runtime reports what it was handed, and a method handle of the given data kind. */
function runReporting(kind: string): { run: TrainResult; method: MethodHandle; received: unknown[] } {
  const received: unknown[] = [];
  const heldOutTask = (heldOut: unknown, options: { seed: number }) => {
    received.push(heldOut, options.seed);
    return Promise.resolve([accuracyFigure]);
  };
  const run = { runtime: { heldOutTask } } as unknown as TrainResult;
  const method = { definition: { data: kind } } as unknown as MethodHandle;
  return { run, method, received };
}

describe('evaluateHeldOutTask', () => {
  it('hands an unlabeled-image method the test images by default, with the seed', async () => {
    const { run, method, received } = runReporting('unlabeled');
    expect(await evaluateHeldOutTask({ run, method, test, seed: 7 })).toEqual([accuracyFigure]);
    expect(received).toEqual([test, 7]);
  });

  it('hands other data kinds only the held-out data given in their form, and skips them without it', async () => {
    const pairs = { images: test, audio: 'clips' };
    const given = runReporting('image-audio');
    expect(await evaluateHeldOutTask({ ...given, test, heldOut: pairs, seed: 0 })).toEqual([accuracyFigure]);
    expect(given.received[0]).toBe(pairs);
    const missing = runReporting('image-audio');
    expect(await evaluateHeldOutTask({ ...missing, test, seed: 0 })).toBeUndefined();
    expect(missing.received).toEqual([]);
  });

  it('is undefined for a method that reports no task of its own', async () => {
    const run = { runtime: {} } as unknown as TrainResult;
    const method = { definition: { data: 'unlabeled' } } as unknown as MethodHandle;
    expect(await evaluateHeldOutTask({ run, method, test, seed: 0 })).toBeUndefined();
  });
});

describe('held-out figures in words', () => {
  it('gives accuracies in points over the reference and errors as a relative change', () => {
    expect(formatHeldOutValue(accuracyFigure)).toBe('91.2%');
    expect(heldOutMargin(accuracyFigure)).toBe('+66.2 pts');
    expect(formatHeldOutValue(errorFigure)).toBe('0.03000');
    expect(formatHeldOutValue(errorFigure, errorFigure.reference.value)).toBe('0.06000');
    expect(heldOutMargin(errorFigure)).toBe('-50%');
    expect(formatHeldOutValue(scoreFigure)).toBe('4.25 dB');
    expect(heldOutMargin(scoreFigure)).toBe('+0.70 dB');
  });

  it('prints a table of the method’s own task under the encoder figures', () => {
    const scores = { featureDim: 2, knn: 0.5, linear: 0.5, fewLabels: { mean: 0.5, std: 0 } };
    const evaluation = {
      trained: scores,
      randomInit: scores,
      rawPixels: scores,
      protocol: { knn: { k: 1 }, linear: {}, fewLabels: { perClass: 10, seeds: [0] }, trainImages: 1, testImages: 1 },
      heldOutTask: [accuracyFigure, errorFigure],
    } as unknown as ControlledEvaluation;
    const text = formatControlledEvaluation(evaluation);
    expect(text).toContain("the method's own task, held-out data");
    expect(text).toMatch(/rotation accuracy\s+91\.2%\s+25\.0% \(chance\)\s+\+66\.2 pts/);
    expect(text).toMatch(/patch MSE\s+0\.03000\s+0\.06000 \(per-position mean\)\s+-50%/);
  });
});
