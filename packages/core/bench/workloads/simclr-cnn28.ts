/**
 * SimCLR step on a small CNN: two views of 256 28×28×1 images, conv3x3(32)-relu-maxpool2,
 * conv3x3(64)-relu-maxpool2, conv3x3(128)-relu, global average pool, projection dense(128)-relu-dense(128),
 * NT-Xent at temperature 0.5 over the 2N embeddings, SGD with momentum 0.9.
 * Mirrors `simclr_cnn28` in bench/torch_workloads.py.
 */
import * as tf from '@tensorflow/tfjs-core';

import { ParameterStore, applyDense, dense, ntXentLoss, trainingStep, type TrainingStep } from './ops';

export const BATCH_SIZE = 256;

export function simclrCnn28(): TrainingStep {
  const store = new ParameterStore();
  const convs = [store.weight([3, 3, 1, 32], 9), store.weight([3, 3, 32, 64], 9 * 32), store.weight([3, 3, 64, 128], 9 * 64)];
  const convBiases = [store.constant([32], 0), store.constant([64], 0), store.constant([128], 0)];
  const projection = [dense(store, 128, 128), dense(store, 128, 128)];
  // Views come pre-made: the benchmark times the training step, not augmentation.
  const view1 = tf.randomUniform([BATCH_SIZE, 28, 28, 1], 0, 1, 'float32', 11) as tf.Tensor4D;
  const view2 = tf.randomUniform([BATCH_SIZE, 28, 28, 1], 0, 1, 'float32', 12) as tf.Tensor4D;

  const encode = (x: tf.Tensor4D): tf.Tensor2D => {
    let h = tf.maxPool(tf.relu(tf.add(tf.conv2d(x, convs[0] as tf.Tensor4D, 1, 'same'), convBiases[0])) as tf.Tensor4D, 2, 2, 'valid');
    h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, convs[1] as tf.Tensor4D, 1, 'same'), convBiases[1])) as tf.Tensor4D, 2, 2, 'valid');
    h = tf.relu(tf.add(tf.conv2d(h, convs[2] as tf.Tensor4D, 1, 'same'), convBiases[2])) as tf.Tensor4D;
    const pooled = tf.mean(h, [1, 2]);
    return applyDense(projection[1], tf.relu(applyDense(projection[0], pooled))) as tf.Tensor2D;
  };

  const step = trainingStep(store, tf.train.momentum(0.05, 0.9), () => {
    // Both views go through the encoder as one batch of 2N, as in the PyTorch twin.
    const z = encode(tf.concat([view1, view2], 0));
    return ntXentLoss(z.slice([0, 0], [BATCH_SIZE, -1]), z.slice([BATCH_SIZE, 0], [BATCH_SIZE, -1]), 0.5);
  });
  return {
    ...step,
    dispose() {
      step.dispose();
      tf.dispose([view1, view2]);
    },
  };
}
