/**
 * Feature extraction (inference) of the encoders @ssl evaluates with: `features-cnn28` is the small CNN of
 * `ssl pretrain` (conv3×3 32-64-128, each + BN + ReLU, max-pooling between stages, global average pool),
 * `features-vit28` the `vit28` preset (4×4 patches, class token, 4 pre-norm blocks of width 128, 4 heads).
 * One step is one batch of FEATURE_BATCH random 28×28×1 images through `inferenceEncoder` (batch norm folded
 * into the convs), features read back to the host, as `extractFeatures` does.
 * Mirrors `features-cnn28` / `features-vit28` in bench/torch_workloads.py (model.eval(), torch.no_grad()).
 */
import * as tf from '@tensorflow/tfjs-core';

import { createEncoder } from '../../src/nn/create-encoder';
import { inferenceEncoder } from '../../src/nn/inference';
import { vitPreset } from '../../src/nn/spec';
import { kernelTimes, type TrainingStep } from './ops';

export const FEATURE_BATCH = 512;

function featureWorkload(kind: 'cnn' | 'vit'): TrainingStep {
  const encoder =
    kind === 'cnn' ? createEncoder({ kind: 'cnn', inputShape: [28, 28, 1], seed: 0 }) : createEncoder(vitPreset('vit28', { seed: 0 }));
  const extractor = inferenceEncoder(encoder);
  const images = tf.randomUniform([FEATURE_BATCH, 28, 28, 1], 0, 1, 'float32', 13) as tf.Tensor4D;
  const run = (): number => {
    const features = extractor.features(images);
    const values = features.dataSync();
    features.dispose();
    return values[0];
  };
  return {
    imagesPerStep: FEATURE_BATCH,
    step: run,
    profile: () => kernelTimes(run),
    dispose() {
      extractor.dispose();
      images.dispose();
      encoder.model.dispose();
    },
  };
}

export const featuresCnn28 = (): TrainingStep => featureWorkload('cnn');
export const featuresVit28 = (): TrainingStep => featureWorkload('vit');
