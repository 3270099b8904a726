/**
 * DINO multi-crop step (Caron et al. 2021) on the small CNN: 64 images, 2 global 28×28 crops and 6 local
 * 12×12 crops. The student (conv3x3(32)-relu-maxpool2, conv3x3(64)-relu-maxpool2, conv3x3(128)-relu,
 * global average pool, then the DINO head: dense(256)-gelu-dense(256)-gelu-dense(64), L2 norm, a
 * weight-normalized dense(1024) without bias at magnitude 1) sees every crop, the crops of one resolution
 * as one batch (the reference's MultiCropWrapper); an EMA teacher of the same architecture sees the global
 * crops only. Loss: cross-entropy of the teacher's centered softmax at τ 0.04 against the student's at
 * τ 0.1 over every (global crop, other crop) pair; AdamW; then the teacher EMA (0.996) and the center
 * EMA (0.9). Mirrors `dino-multicrop28` in bench/torch_workloads.py.
 */
import * as tf from '@tensorflow/tfjs-core';

import {
  ParameterStore,
  applyDense,
  applyWeightDecay,
  dense,
  gelu,
  multiCropCrossEntropy,
  trainingStep,
  type Dense,
  type TrainingStep,
} from './ops';

export const BATCH_SIZE = 64;
const GLOBAL_CROPS = 2;
const LOCAL_CROPS = 6;
const LOCAL_SIZE = 12;
const OUTPUT_DIM = 1024;
const LEARNING_RATE = 5e-4;
const WEIGHT_DECAY = 0.04;
const TEACHER_MOMENTUM = 0.996;
const CENTER_MOMENTUM = 0.9;

interface Network {
  convs: tf.Tensor4D[];
  convBiases: tf.Tensor1D[];
  head: Dense[];
  /** Direction of the weight-normalized last layer, [64, K]; each column is used divided by its norm. */
  lastLayer: tf.Tensor2D;
}

function forward(net: Network, x: tf.Tensor4D): tf.Tensor2D {
  let h = tf.maxPool(tf.relu(tf.add(tf.conv2d(x, net.convs[0], 1, 'same'), net.convBiases[0])) as tf.Tensor4D, 2, 2, 'valid');
  h = tf.maxPool(tf.relu(tf.add(tf.conv2d(h, net.convs[1], 1, 'same'), net.convBiases[1])) as tf.Tensor4D, 2, 2, 'valid');
  h = tf.relu(tf.add(tf.conv2d(h, net.convs[2], 1, 'same'), net.convBiases[2])) as tf.Tensor4D;
  let z = tf.mean(h, [1, 2]);
  z = gelu(applyDense(net.head[0], z));
  z = gelu(applyDense(net.head[1], z));
  z = applyDense(net.head[2], z);
  z = tf.div(z, tf.add(tf.norm(z, 'euclidean', 1, true), 1e-12));
  const weights = tf.div(net.lastLayer, tf.norm(net.lastLayer, 'euclidean', 0, true));
  return tf.matMul(z as tf.Tensor2D, weights);
}

export function dinoMulticrop28(): TrainingStep {
  const store = new ParameterStore();
  const student: Network = {
    convs: [store.weight([3, 3, 1, 32], 9), store.weight([3, 3, 32, 64], 9 * 32), store.weight([3, 3, 64, 128], 9 * 64)] as tf.Tensor4D[],
    convBiases: [store.constant([32], 0), store.constant([64], 0), store.constant([128], 0)] as tf.Tensor1D[],
    head: [dense(store, 128, 256), dense(store, 256, 256), dense(store, 256, 64)],
    lastLayer: store.weight([64, OUTPUT_DIM], 64) as tf.Tensor2D,
  };
  // The teacher starts as a copy of the student and gets no gradient.
  const teacherVariables = store.variables.map((v) => tf.variable(v, false));
  const teacherOf = (v: tf.Tensor) => teacherVariables[store.variables.indexOf(v as tf.Variable)];
  const teacher: Network = {
    convs: student.convs.map(teacherOf) as tf.Tensor4D[],
    convBiases: student.convBiases.map(teacherOf) as tf.Tensor1D[],
    head: student.head.map((layer) => ({ kernel: teacherOf(layer.kernel), bias: teacherOf(layer.bias) })),
    lastLayer: teacherOf(student.lastLayer) as tf.Tensor2D,
  };
  const center = tf.variable(tf.zeros([1, OUTPUT_DIM]), false);
  // Crops come pre-made: the benchmark times the training step, not augmentation.
  const globals = Array.from({ length: GLOBAL_CROPS }, (_, i) => tf.randomUniform([BATCH_SIZE, 28, 28, 1], 0, 1, 'float32', 11 + i));
  const locals = Array.from({ length: LOCAL_CROPS }, (_, i) =>
    tf.randomUniform([BATCH_SIZE, LOCAL_SIZE, LOCAL_SIZE, 1], 0, 1, 'float32', 21 + i),
  );
  let teacherOutput: tf.Tensor2D | undefined;

  const loss = (): tf.Scalar => {
    const crops = GLOBAL_CROPS + LOCAL_CROPS;
    const studentOutput = tf.concat([
      forward(student, tf.concat(globals, 0) as tf.Tensor4D),
      forward(student, tf.concat(locals, 0) as tf.Tensor4D),
    ]);
    const studentLogP = tf.logSoftmax(tf.div(studentOutput, 0.1));
    const teacherLogits = forward(teacher, tf.concat(globals, 0) as tf.Tensor4D);
    teacherOutput?.dispose();
    teacherOutput = tf.keep(teacherLogits);
    const teacherP = tf.softmax(tf.div(tf.sub(teacherLogits, center), 0.04));
    return multiCropCrossEntropy(teacherP as tf.Tensor2D, studentLogP as tf.Tensor2D, GLOBAL_CROPS, crops, BATCH_SIZE);
  };

  const step = trainingStep(store, tf.train.adam(LEARNING_RATE), loss, () => {
    applyWeightDecay(store.variables, LEARNING_RATE, WEIGHT_DECAY);
    tf.tidy(() => {
      store.variables.forEach((v, i) =>
        teacherVariables[i].assign(tf.add(tf.mul(teacherVariables[i], TEACHER_MOMENTUM), tf.mul(v, 1 - TEACHER_MOMENTUM))),
      );
      center.assign(tf.add(tf.mul(center, CENTER_MOMENTUM), tf.mul(tf.mean(teacherOutput!, 0, true), 1 - CENTER_MOMENTUM)));
    });
  });
  return {
    ...step,
    dispose() {
      step.dispose();
      tf.dispose([...teacherVariables, center, ...globals, ...locals]);
      teacherOutput?.dispose();
    },
  };
}
