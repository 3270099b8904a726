/**
 * DINO multi-crop step (Caron et al. 2021) with the ViT of packages/noncontrastive/recipes/dino-vit28.json, as
 * `noncontrastive:dino` runs it: the vit28 preset with 7×7 patches, width 64 and the tanh GELU (4 blocks, 4 heads);
 * 64 images, 2 global 28×28 crops (4×4 patches + class token) and 6 local 14×14 crops (2×2 patches + class token,
 * position embedding resized bilinearly; issue 28 asks 6 local crops, the recipe trains with 4), the crops of one
 * size as one batch (the recipe's `cropBatches: 'per-size'`, the reference's MultiCropWrapper). The student is
 * @ssl's own VitEncoder and DINO head (dense(512)-BN-GELU, dense(512)-BN-GELU, dense(128), L2 norm,
 * weight-normalized dense(128) without bias at magnitude 1), the head applied to each size's batch; an EMA
 * teacher of the same networks sees the global crops only, its forward off the gradient tape (`noGradient`, as
 * the method and PyTorch's `torch.no_grad()`). Loss: cross-entropy of the teacher's centered
 * softmax at τ 0.04 against the student's at τ 0.1 over every (global crop, other crop) pair; gradients
 * clipped at global norm 3, AdamW (lr 1e-3, weight decay 0.04 on the matrices); then the teacher EMA (0.996)
 * and the center EMA (0.9). Mirrors `dino-vit28-multicrop` in bench/torch_workloads.py.
 */
import * as tf from '@tensorflow/tfjs-core';

import { createEncoder } from '../../src/nn/create-encoder';
import { dinoHead } from '../../src/nn/heads';
import { vitPreset } from '../../src/nn/spec';
import { noGradient, variableGrads } from '../../src/train/gradients';
import { clipByGlobalNorm, createOptimizer } from '../../src/train/optimizers';
import { kernelTimes, multiCropCrossEntropy, type TrainingStep } from './ops';

export const BATCH_SIZE = 64;
const GLOBAL_CROPS = 2;
const LOCAL_CROPS = 6;
const LOCAL_SIZE = 14;
const WIDTH = 64;
const OUTPUT_DIM = 128;
const LEARNING_RATE = 1e-3;
const TEACHER_MOMENTUM = 0.996;
const CENTER_MOMENTUM = 0.9;

export function dinoVit28Multicrop(): TrainingStep {
  const networks = () => {
    const encoder = createEncoder(vitPreset('vit28', { patchSize: 7, embedDim: WIDTH, gelu: 'tanh', seed: 0 }));
    const head = dinoHead({ inputDim: WIDTH, hiddenDim: 512, bottleneckDim: 128, outputDim: OUTPUT_DIM, batchNorm: true, seed: 1 });
    return {
      encoder,
      head,
      forward: (x: tf.Tensor4D) => head.apply(encoder.features(x, { training: true }), { training: true }) as tf.Tensor2D,
    };
  };
  // Same seeds: the teacher starts as a copy of the student.
  const student = networks();
  const teacher = networks();
  const studentWeights = [...student.encoder.model.weights, ...student.head.weights];
  const teacherWeights = [...teacher.encoder.model.weights, ...teacher.head.weights];
  const variables = [...student.encoder.model.trainableWeights, ...student.head.trainableWeights].map((w) => w.read() as tf.Variable);
  const optimizer = createOptimizer({ kind: 'adamw', lr: LEARNING_RATE, weightDecay: 0.04 }, variables);
  const center = tf.variable(tf.zeros([1, OUTPUT_DIM]), false);
  // Crops come pre-made: the benchmark times the training step, not augmentation.
  const globals = tf.randomUniform([GLOBAL_CROPS * BATCH_SIZE, 28, 28, 1], 0, 1, 'float32', 11) as tf.Tensor4D;
  const locals = tf.randomUniform([LOCAL_CROPS * BATCH_SIZE, LOCAL_SIZE, LOCAL_SIZE, 1], 0, 1, 'float32', 21) as tf.Tensor4D;
  let teacherOutput: tf.Tensor2D | undefined;

  const loss = (): tf.Scalar => {
    const crops = GLOBAL_CROPS + LOCAL_CROPS;
    const studentOutput = tf.concat([student.forward(globals), student.forward(locals)]);
    const studentLogP = tf.logSoftmax(tf.div(studentOutput, 0.1));
    const teacherLogits = noGradient(() => teacher.forward(globals));
    teacherOutput?.dispose();
    teacherOutput = tf.keep(teacherLogits);
    const teacherP = tf.softmax(tf.div(tf.sub(teacherLogits, center), 0.04));
    return multiCropCrossEntropy(teacherP as tf.Tensor2D, studentLogP as tf.Tensor2D, GLOBAL_CROPS, crops, BATCH_SIZE);
  };

  const run = (): number => {
    const { value, grads } = variableGrads(loss, variables);
    const { clipped } = clipByGlobalNorm(
      variables.map((v) => grads[v.name]),
      3,
    );
    optimizer.apply(clipped, LEARNING_RATE);
    tf.dispose([...Object.values(grads), ...clipped]);
    tf.tidy(() => {
      teacherWeights.forEach((w, i) =>
        w.write(tf.add(tf.mul(w.read(), TEACHER_MOMENTUM), tf.mul(studentWeights[i].read(), 1 - TEACHER_MOMENTUM))),
      );
      center.assign(tf.add(tf.mul(center, CENTER_MOMENTUM), tf.mul(tf.mean(teacherOutput!, 0, true), 1 - CENTER_MOMENTUM)));
    });
    const result = value.dataSync()[0];
    value.dispose();
    return result;
  };

  return {
    step: run,
    profile: () => kernelTimes(run),
    dispose() {
      optimizer.dispose();
      for (const model of [student.encoder.model, student.head, teacher.encoder.model, teacher.head]) model.dispose();
      tf.dispose([center, globals, locals]);
      teacherOutput?.dispose();
    },
  };
}
