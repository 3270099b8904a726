/**
 * SimCLR step on ResNet-18 for 32×32×3 inputs (CIFAR variant: 3x3 stem, no max-pool), basic blocks
 * [2, 2, 2, 2] of widths 64-128-256-512 with batch norm, projection dense(512)-relu-dense(128),
 * batch 128 (two views → 256 images per step), NT-Xent at 0.5, SGD with momentum 0.9.
 * Mirrors `resnet18_cifar32` in bench/torch_workloads.py.
 */
import * as tf from '@tensorflow/tfjs-core';

import { ParameterStore, applyDense, batchNorm, dense, norm, ntXentLoss, trainingStep, type Norm, type TrainingStep } from './ops';

export const BATCH_SIZE = 128;

interface BasicBlock {
  conv1: tf.Variable;
  norm1: Norm;
  conv2: tf.Variable;
  norm2: Norm;
  stride: number;
  shortcut?: { conv: tf.Variable; norm: Norm };
}

function basicBlock(store: ParameterStore, inputs: number, outputs: number, stride: number): BasicBlock {
  return {
    conv1: store.weight([3, 3, inputs, outputs], 9 * inputs),
    norm1: norm(store, outputs),
    conv2: store.weight([3, 3, outputs, outputs], 9 * outputs),
    norm2: norm(store, outputs),
    stride,
    shortcut:
      stride !== 1 || inputs !== outputs ? { conv: store.weight([1, 1, inputs, outputs], inputs), norm: norm(store, outputs) } : undefined,
  };
}

function applyBasicBlock(block: BasicBlock, x: tf.Tensor4D): tf.Tensor4D {
  let h = tf.relu(batchNorm(tf.conv2d(x, block.conv1 as tf.Tensor4D, block.stride, 'same'), block.norm1)) as tf.Tensor4D;
  h = batchNorm(tf.conv2d(h, block.conv2 as tf.Tensor4D, 1, 'same'), block.norm2);
  const identity = block.shortcut
    ? batchNorm(tf.conv2d(x, block.shortcut.conv as tf.Tensor4D, block.stride, 'valid'), block.shortcut.norm)
    : x;
  return tf.relu(tf.add(h, identity)) as tf.Tensor4D;
}

export function resnet18Cifar32(): TrainingStep {
  const store = new ParameterStore();
  const stem = { conv: store.weight([3, 3, 3, 64], 27), norm: norm(store, 64) };
  const blocks: BasicBlock[] = [];
  let channels = 64;
  for (const [stage, width] of [64, 128, 256, 512].entries()) {
    blocks.push(basicBlock(store, channels, width, stage === 0 ? 1 : 2), basicBlock(store, width, width, 1));
    channels = width;
  }
  const projection = [dense(store, 512, 512), dense(store, 512, 128)];
  const view1 = tf.randomUniform([BATCH_SIZE, 32, 32, 3], 0, 1, 'float32', 21) as tf.Tensor4D;
  const view2 = tf.randomUniform([BATCH_SIZE, 32, 32, 3], 0, 1, 'float32', 22) as tf.Tensor4D;

  const encode = (x: tf.Tensor4D): tf.Tensor2D => {
    let h = tf.relu(batchNorm(tf.conv2d(x, stem.conv as tf.Tensor4D, 1, 'same'), stem.norm)) as tf.Tensor4D;
    for (const block of blocks) h = applyBasicBlock(block, h);
    const pooled = tf.mean(h, [1, 2]);
    return applyDense(projection[1], tf.relu(applyDense(projection[0], pooled))) as tf.Tensor2D;
  };

  const step = trainingStep(store, tf.train.momentum(0.05, 0.9), () => {
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
