// RotNet (Gidaris et al. 2018) on Fashion-MNIST: a thin config of @ssl/eval's pretrainAndCompare (through
// examples/shared), the runner `ssl pretrain` uses: train the rotation pretext task, then print every figure
// beside the same encoder at random init and raw pixels, plus the trained head's rotation accuracy.
// Run: pnpm --filter @ssl-examples/rotation-fashion-mnist start -- [--epochs 3] [--data full|sample] [--out dir]
//      [--batch-size 128] [--lr 0.1] [--channels 32,64,128] [--pretrain-limit N] [--train-limit N] [--test-limit N]
//      [--head-input pooled|feature-map|conv-block] [--head-hidden-layers 0|1|2] [--augment true|false] [--seed 0] [--encoder-seed N]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRegistry } from '@ssl/core';
import type { PartialConfig } from '@ssl/core';
import pretext, { evaluateRotationAccuracy } from '@ssl/pretext';
import type { RotationConfig } from '@ssl/pretext';
import {
  dataOption,
  describeRun,
  exampleArgs,
  isMainModule,
  numberListOption,
  numberOption,
  runPretrainAndCompare,
} from '@ssl-examples/shared';
import type { PretrainAndCompareOptions, PretrainAndCompareResult } from '@ssl-examples/shared';

export interface RotationExampleOptions extends PretrainAndCompareOptions {
  /** Method config overrides (head, augmentation). */
  method?: PartialConfig<RotationConfig>;
}

export interface RotationExampleResult extends PretrainAndCompareResult {
  /** 4-way rotation accuracy of the trained head on the test set (only the trained encoder has a head). */
  rotationAccuracy: number;
}

export async function runRotationExample(options: RotationExampleOptions = {}): Promise<RotationExampleResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const result = await runPretrainAndCompare(
    {
      label: 'RotNet',
      createMethod: () =>
        createRegistry()
          .use(pretext())
          .create('pretext:rotation', options.method ?? {}),
      defaultBatchSize: 128,
      defaultEpochs: 3,
      callbacks: [
        {
          name: 'rotation-progress',
          onStepEnd(record) {
            if (record.step % 50 === 0) {
              log(
                `step ${record.step} epoch ${record.epoch}: loss ${record.loss.toFixed(3)}, rotation acc ${record.metrics.rotationAccuracy.toFixed(3)}, lr ${record.lr.toPrecision(2)}`,
              );
            }
          },
        },
      ],
      async afterTraining(run, _evaluation, data) {
        const last = run.history[run.history.length - 1];
        return {
          rotationAccuracy: await evaluateRotationAccuracy(run.encoder, run.runtime.trainable.head, data.test),
          finalLoss: last.loss,
          finalTrainRotationAccuracy: last.metrics.rotationAccuracy,
        };
      },
    },
    options,
  );
  return { ...result, rotationAccuracy: result.extra.rotationAccuracy };
}

/** The example's flags, parsed with node:util's parseArgs. */
export function parseRotationArgs(argv?: readonly string[]): RotationExampleOptions {
  const { values } = parseArgs({
    args: exampleArgs(argv),
    options: {
      epochs: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      'batch-size': { type: 'string' },
      lr: { type: 'string' },
      channels: { type: 'string' },
      'pretrain-limit': { type: 'string' },
      'train-limit': { type: 'string' },
      'test-limit': { type: 'string' },
      'head-input': { type: 'string' },
      'head-hidden-layers': { type: 'string' },
      augment: { type: 'string' },
      seed: { type: 'string' },
      'encoder-seed': { type: 'string' },
    },
  });
  const headHiddenLayers = numberOption('head-hidden-layers', values['head-hidden-layers']);
  // --train-limit: the first N train images everywhere (pre-training, unless --pretrain-limit says otherwise, and evaluation).
  const trainLimit = numberOption('train-limit', values['train-limit']);
  return {
    epochs: numberOption('epochs', values.epochs),
    data: dataOption(values.data),
    out: values.out ?? join('runs', 'rotation'),
    batchSize: numberOption('batch-size', values['batch-size']),
    lr: numberOption('lr', values.lr),
    channels: numberListOption('channels', values.channels),
    limit: numberOption('pretrain-limit', values['pretrain-limit']) ?? trainLimit,
    evalTrain: trainLimit,
    evalTest: numberOption('test-limit', values['test-limit']),
    seed: numberOption('seed', values.seed),
    encoderSeed: numberOption('encoder-seed', values['encoder-seed']),
    method: {
      ...(values['head-input'] ? { headInput: values['head-input'] as RotationConfig['headInput'] } : {}),
      ...(headHiddenLayers === undefined ? {} : { headHiddenLayers: headHiddenLayers as RotationConfig['headHiddenLayers'] }),
      ...(values.augment ? { augment: values.augment === 'true' } : {}),
    },
  };
}

if (isMainModule(import.meta.url)) {
  const result = await runRotationExample(parseRotationArgs());
  console.log(
    `\n${result.table}\n\nrotation accuracy (test, trained head): ${(100 * result.rotationAccuracy).toFixed(1)}%\n${describeRun(result)}`,
  );
}
