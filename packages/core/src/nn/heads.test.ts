import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';

import { isSslError } from '../errors';
import { registerWasmTrainingKernels } from '../backend/kernels/index';
import { dinoHead, dinoHeadLastLayer, linearClassifier, predictionHead, projectionHead, prototypeLayer } from './heads';
import { l2NormalizeLastAxis } from './layers/head-layers';
import { countTrainableParams } from './layers-encoder';

async function rowNorms(matrix: tf.Tensor2D): Promise<number[]> {
  const norms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(matrix), 1)));
  const values = Array.from(await norms.data());
  norms.dispose();
  return values;
}

describe('heads', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    registerWasmTrainingKernels();
  });

  it('projection head variants have the layers and parameter counts of SimCLR, BYOL and SimCLRv2/SimSiam', () => {
    const classNames = (model: ReturnType<typeof projectionHead>) => model.layers.slice(1).map((layer) => layer.getClassName());
    const simclr = projectionHead({ inputDim: 8, hiddenDim: 16, outputDim: 4 });
    expect(classNames(simclr)).toEqual(['Dense', 'ReLU', 'Dense']);
    expect(countTrainableParams(simclr)).toBe(8 * 16 + 16 + 16 * 4 + 4);
    const byol = projectionHead({ inputDim: 8, hiddenDim: 16, outputDim: 4, batchNorm: true });
    expect(classNames(byol)).toEqual(['Dense', 'BatchNormalization', 'ReLU', 'Dense']);
    expect(countTrainableParams(byol)).toBe(8 * 16 + 2 * 16 + 16 * 4 + 4);
    const simsiam = projectionHead({ inputDim: 8, hiddenDim: 16, outputDim: 4, layers: 3, batchNorm: true, lastBatchNorm: true });
    expect(classNames(simsiam)).toEqual([
      'Dense',
      'BatchNormalization',
      'ReLU',
      'Dense',
      'BatchNormalization',
      'ReLU',
      'Dense',
      'BatchNormalization',
    ]);
    // Last BN without γ/β (SimSiam's affine=False), and no bias before any BN.
    expect(countTrainableParams(simsiam)).toBe(8 * 16 + 32 + 16 * 16 + 32 + 16 * 4);
    const predictor = predictionHead({ inputDim: 4, hiddenDim: 16, outputDim: 4 });
    expect(classNames(predictor)).toEqual(['Dense', 'BatchNormalization', 'ReLU', 'Dense']);
    const classifier = linearClassifier({ inputDim: 4, numClasses: 3 });
    expect(countTrainableParams(classifier)).toBe(15);
    expect(() => projectionHead({ inputDim: 8, hiddenDim: 16, outputDim: 4, layers: 4 as 3 })).toThrow(/layers/);
    let caught: unknown;
    try {
      dinoHead({ inputDim: 8, outputDim: 0 });
    } catch (error) {
      caught = error;
    }
    expect(isSslError(caught, 'invalid-config')).toBe(true);
    [simclr, byol, simsiam, predictor, classifier].forEach((model) => model.dispose());
  });

  it('dino head: L2-normalized bottleneck and a weight-normalized last layer (‖w_j‖ = g_j = 1, frozen)', async () => {
    const head = dinoHead({ inputDim: 6, hiddenDim: 12, bottleneckDim: 5, outputDim: 7, seed: 1 });
    expect(head.layers.slice(1).map((layer) => layer.getClassName())).toEqual([
      'Dense',
      'Activation',
      'Dense',
      'Activation',
      'Dense',
      'SslL2Normalization',
      'SslWeightNormDense',
    ]);
    const lastLayer = dinoHeadLastLayer(head);
    // The last layer has no bias; with normLastLayer only the direction v is trainable.
    expect(lastLayer.trainableWeights.map((w) => w.originalName.split('/').pop())).toEqual(['direction']);
    expect(lastLayer.nonTrainableWeights.map((w) => w.originalName.split('/').pop())).toEqual(['magnitude']);
    const kernel = lastLayer.kernel();
    const columns = tf.transpose(kernel) as tf.Tensor2D;
    (await rowNorms(columns)).forEach((norm) => expect(norm).toBeCloseTo(1, 5));

    // Output = normalize(bottleneck(x)) · kernel, computed from the pieces.
    const x = tf.randomNormal([3, 6], 0, 1, 'float32', 2);
    const bottleneckLayer = head.layers[head.layers.length - 3];
    const mlpOutput = tf.tidy(() => head.layers.slice(1, -2).reduce((t: tf.Tensor, layer) => layer.apply(t) as tf.Tensor, x));
    expect(mlpOutput.shape).toEqual([3, 5]);
    expect(bottleneckLayer.getClassName()).toBe('Dense');
    const expected = tf.matMul(l2NormalizeLastAxis(mlpOutput) as tf.Tensor2D, kernel);
    const actual = head.apply(x) as tf.Tensor;
    const difference = tf.max(tf.abs(tf.sub(expected, actual)));
    expect((await difference.data())[0]).toBeLessThan(1e-5);

    // A training step changes v, keeps g = 1 and the kernel's columns at unit norm.
    const optimizer = tf.train.sgd(0.5);
    const variables = head.trainableWeights.map((w) => w.read() as tf.Variable);
    optimizer.minimize(
      () =>
        tf.tidy(() =>
          tf.neg(tf.mean(tf.slice(tf.logSoftmax(head.apply(x, { training: true }) as tf.Tensor), [0, 0], [3, 1]))),
        ) as tf.Scalar,
      false,
      variables,
    );
    const kernelAfter = lastLayer.kernel();
    const change = tf.max(tf.abs(tf.sub(kernelAfter, kernel)));
    expect((await change.data())[0]).toBeGreaterThan(1e-4);
    (await rowNorms(tf.transpose(kernelAfter) as tf.Tensor2D)).forEach((norm) => expect(norm).toBeCloseTo(1, 5));
    tf.dispose([kernel, columns, x, mlpOutput, expected, actual, difference, kernelAfter, change]);
    optimizer.dispose();
    head.dispose();
  });

  it('dino head without normLastLayer learns the magnitude g', () => {
    const head = dinoHead({ inputDim: 4, hiddenDim: 8, bottleneckDim: 4, outputDim: 3, layers: 1, normLastLayer: false });
    const lastLayer = dinoHeadLastLayer(head);
    expect(lastLayer.trainableWeights.map((w) => w.originalName.split('/').pop())).toEqual(['direction', 'magnitude']);
    expect(head.layers.slice(1).map((layer) => layer.getClassName())).toEqual(['Dense', 'SslL2Normalization', 'SslWeightNormDense']);
    head.dispose();
  });

  it('prototype layer: normalizePrototypes gives unit rows in place, scores are z · Cᵀ', async () => {
    const layer = prototypeLayer({ inputDim: 4, numPrototypes: 6, seed: 3 });
    const before = layer.prototypes();
    expect(before.shape).toEqual([6, 4]);
    expect((await rowNorms(before)).some((norm) => Math.abs(norm - 1) > 1e-2)).toBe(true);
    const numTensors = tf.memory().numTensors;
    layer.normalizePrototypes();
    expect(tf.memory().numTensors).toBe(numTensors);
    const after = layer.prototypes();
    (await rowNorms(after)).forEach((norm) => expect(norm).toBeCloseTo(1, 5));
    // Same directions: after = before / ‖before‖ row-wise.
    const expectedAfter = l2NormalizeLastAxis(before);
    const directionError = tf.max(tf.abs(tf.sub(expectedAfter, after)));
    expect((await directionError.data())[0]).toBeLessThan(1e-6);
    const z = tf.randomNormal([2, 4]);
    const scores = layer.apply(z) as tf.Tensor;
    const expectedScores = tf.matMul(z, after, false, true);
    const scoreError = tf.max(tf.abs(tf.sub(scores, expectedScores)));
    expect((await scoreError.data())[0]).toBeLessThan(1e-6);
    tf.dispose([before, after, expectedAfter, directionError, z, scores, expectedScores, scoreError]);
    layer.dispose();
  });
});
