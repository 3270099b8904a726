import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';

import { createEncoder } from './create-encoder';
import { linearClassifier } from './heads';
import { countTrainableParams } from './layers-encoder';
import { vitPreset } from './spec';

/** Encoder followed by a linear head, as one model, to count parameters as PyTorch reports them. */
function withHead(encoderModel: tfl.LayersModel, featureDim: number, numClasses: number): tfl.LayersModel {
  const head = linearClassifier({ inputDim: featureDim, numClasses });
  return tfl.model({ inputs: encoderModel.inputs, outputs: head.apply(encoderModel.outputs[0]) as tfl.SymbolicTensor });
}

describe('parameter counts match the reference PyTorch models', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it('ResNet-18, CIFAR stem: 11,168,832 (+ 10-class head: 11,173,962)', () => {
    const encoder = createEncoder({ kind: 'resnet18', inputShape: [32, 32, 3] });
    expect(encoder.featureDim).toBe(512);
    expect(countTrainableParams(encoder.model)).toBe(11_168_832);
    const classifier = withHead(encoder.model, encoder.featureDim, 10);
    expect(countTrainableParams(classifier)).toBe(11_173_962);
    // BN moving statistics are weights but not parameters: mean and variance for each of the 4,800 BN channels.
    const movingStatistics = encoder.model.nonTrainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
    expect(movingStatistics).toBe(2 * 4_800);
    classifier.dispose(); // also disposes the encoder's layers it shares
  });

  it('ViT-Tiny/16 at 224 px with a 1000-class head: 5,717,416 (timm vit_tiny_patch16_224)', () => {
    const encoder = createEncoder(vitPreset('tiny'));
    expect(encoder.numPatches).toBe(196);
    const classifier = withHead(encoder.model, encoder.featureDim, 1000);
    expect(countTrainableParams(classifier)).toBe(5_717_416);
    classifier.dispose();
  });

  it('ResNet-50 ImageNet stem without head: 23,508,032 (torchvision resnet50 minus its fc)', () => {
    const encoder = createEncoder({ kind: 'resnet50', inputShape: [224, 224, 3] });
    expect(encoder.featureDim).toBe(2048);
    expect(countTrainableParams(encoder.model)).toBe(23_508_032);
    encoder.model.dispose();
  });
});
