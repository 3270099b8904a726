/**
 * The few layers the benchmark workloads need, written with tfjs-core ops on explicit variables so
 * each workload mirrors bench/torch_workloads.py line for line. Batch norm and layer norm are @ssl's
 * own (closed-form gradients), so the step timed is the one @ssl's encoders train with.
 */
import * as tf from '@tensorflow/tfjs-core';

import { batchNormTraining } from '../../src/nn/batch-norm';
import { variableGrads } from '../../src/train/gradients';
import { addResidual, denseLastAxis, geluTanh, layerNorm as sslLayerNorm } from '../../src/nn/layers/common';

/** Creates and remembers trainable variables so a workload can hand them all to its optimizer. */
export class ParameterStore {
  readonly variables: tf.Variable[] = [];
  private seed = 1;

  /** He-normal; the initialization does not change the time a step takes. */
  weight(shape: number[], fanIn: number): tf.Variable {
    return this.add(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', this.seed++));
  }

  constant(shape: number[], value: number): tf.Variable {
    return this.add(tf.fill(shape, value));
  }

  private add(initial: tf.Tensor): tf.Variable {
    const variable = tf.variable(initial, true, `p${this.variables.length}`);
    initial.dispose();
    this.variables.push(variable);
    return variable;
  }

  dispose(): void {
    for (const variable of this.variables) variable.dispose();
    this.variables.length = 0;
  }
}

export interface Dense {
  kernel: tf.Variable;
  bias: tf.Variable;
}

export function dense(store: ParameterStore, inputs: number, outputs: number): Dense {
  return { kernel: store.weight([inputs, outputs], inputs), bias: store.constant([outputs], 0) };
}

/** x: [..., inputs] → [..., outputs], through @ssl's own dense (the product before the bias is not kept). */
export function applyDense(layer: Dense, x: tf.Tensor): tf.Tensor {
  return denseLastAxis(x, layer.kernel, layer.bias);
}

export interface Norm {
  gamma: tf.Variable;
  beta: tf.Variable;
}

export function norm(store: ParameterStore, channels: number): Norm {
  return { gamma: store.constant([channels], 1), beta: store.constant([channels], 0) };
}

/**
 * Training-mode batch norm over N, H, W as @ssl's encoders compute it (running statistics are not kept:
 * the benchmark times steps).
 */
export function batchNorm(x: tf.Tensor4D, layer: Norm): tf.Tensor4D {
  const { y, mean, variance } = batchNormTraining(x, layer.gamma as tf.Tensor1D, layer.beta as tf.Tensor1D, 1e-5);
  tf.dispose([mean, variance]);
  return y as tf.Tensor4D;
}

/** Layer norm over the last axis as @ssl's transformer blocks compute it. */
export function layerNorm(x: tf.Tensor, layer: Norm): tf.Tensor {
  return sslLayerNorm(x, layer.gamma, layer.beta, 1e-5);
}

/** GELU, tanh approximation (torch nn.GELU(approximate='tanh')), as @ssl's `geluTanh` computes it. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return geluTanh(x);
}

export interface TransformerBlock {
  norm1: Norm;
  qkv: Dense;
  projection: Dense;
  norm2: Norm;
  hidden: Dense;
  output: Dense;
  heads: number;
}

export function transformerBlock(store: ParameterStore, width: number, heads: number, mlpRatio: number): TransformerBlock {
  return {
    norm1: norm(store, width),
    qkv: dense(store, width, 3 * width),
    projection: dense(store, width, width),
    norm2: norm(store, width),
    hidden: dense(store, width, mlpRatio * width),
    output: dense(store, mlpRatio * width, width),
    heads,
  };
}

/**
 * Pre-norm block: x + MHA(LN(x)), then x + MLP(LN(x)). x: [batch, tokens, width]. As @ssl's TransformerBlock
 * layer: residual sums that keep nothing for the backward (addResidual), in a tf.tidy, so of the block's intermediates only what the backward reads (the tensors its kernels save
 * on the tape) outlives it — PyTorch frees the others as soon as nothing refers to them — and q is scaled before
 * its product with k (a multiply by a constant saves its input for the gradient, so scaling the [tokens, tokens]
 * logits instead would keep them too).
 */
export function applyTransformerBlock(block: TransformerBlock, x: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const [batch, tokens, width] = x.shape;
    const headWidth = width / block.heads;
    const qkv = applyDense(block.qkv, layerNorm(x, block.norm1))
      .reshape([batch, tokens, 3, block.heads, headWidth])
      .transpose([2, 0, 3, 1, 4]); // [3, batch, heads, tokens, headWidth]
    const [q, k, v] = tf.unstack(qkv, 0).map((t) => t.reshape([batch * block.heads, tokens, headWidth]) as tf.Tensor3D);
    const attention = tf.softmax(tf.matMul(tf.mul(q, 1 / Math.sqrt(headWidth)), k, false, true));
    const mixed = tf
      .matMul(attention as tf.Tensor3D, v)
      .reshape([batch, block.heads, tokens, headWidth])
      .transpose([0, 2, 1, 3])
      .reshape([batch, tokens, width]);
    const afterAttention = addResidual(x, applyDense(block.projection, mixed)) as tf.Tensor3D;
    const mlp = applyDense(block.output, gelu(applyDense(block.hidden, layerNorm(afterAttention, block.norm2))));
    return addResidual(afterAttention, mlp) as tf.Tensor3D;
  });
}

/**
 * NT-Xent (SimCLR eq. 1) over the 2N embeddings of two views: each embedding's positive is its other
 * view, the denominator runs over the 2N - 1 others (self excluded).
 */
export function ntXentLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): tf.Scalar {
  const n = z1.shape[0];
  const z = tf.div(tf.concat([z1, z2], 0), tf.add(tf.norm(tf.concat([z1, z2], 0), 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
  const selfMask = tf.mul(tf.eye(2 * n), -1e9);
  const logits = tf.add(tf.div(tf.matMul(z, z, false, true), temperature), selfMask);
  const positives = tf.div(tf.sum(tf.mul(z.slice([0, 0], [n, -1]), z.slice([n, 0], [n, -1])), 1), temperature);
  return tf.sub(tf.mean(tf.logSumExp(logits, 1)), tf.mean(positives)) as tf.Scalar;
}

/** Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): p ← p·(1 − lr·λ), then the Adam update. */
/**
 * DINO's multi-crop cross-entropy: each of the first `globalCrops` teacher rows (probabilities, crops stacked by
 * batch) against the student's log-probabilities of every other crop, averaged over the pairs.
 */
export function multiCropCrossEntropy(
  teacherP: tf.Tensor2D,
  studentLogP: tf.Tensor2D,
  globalCrops: number,
  crops: number,
  batchSize: number,
): tf.Scalar {
  const terms: tf.Scalar[] = [];
  for (let t = 0; t < globalCrops; t++) {
    const target = teacherP.slice([t * batchSize, 0], [batchSize, -1]);
    for (let v = 0; v < crops; v++) {
      if (v === t) continue;
      terms.push(tf.mean(tf.neg(tf.sum(tf.mul(target, studentLogP.slice([v * batchSize, 0], [batchSize, -1])), 1))));
    }
  }
  return tf.div(tf.addN(terms), terms.length) as tf.Scalar;
}

export function applyWeightDecay(variables: tf.Variable[], learningRate: number, weightDecay: number): void {
  tf.tidy(() => {
    for (const variable of variables) variable.assign(tf.mul(variable, 1 - learningRate * weightDecay));
  });
}

/** One timed training step: runs forward, backward and the update, and returns the loss value. */
export interface TrainingStep {
  step(): number;
  /** Runs one step under tf.profile and returns milliseconds per kernel name. */
  profile(): Promise<Map<string, number>>;
  dispose(): void;
  /** Inference workloads: images one step runs through the encoder (the bench then reports images per second). */
  imagesPerStep?: number;
}

export function trainingStep(
  store: ParameterStore,
  optimizer: tf.Optimizer,
  loss: () => tf.Scalar,
  afterUpdate?: () => void,
): TrainingStep {
  const run = (): number => {
    // As @ssl's trainer does: gradients by core's variableGrads (frees the backward pass as it goes).
    const { value, grads } = variableGrads(loss, store.variables);
    optimizer.applyGradients(grads);
    tf.dispose(Object.values(grads));
    afterUpdate?.();
    const result = value.dataSync()[0];
    value.dispose();
    return result;
  };
  return {
    step: run,
    profile: () => kernelTimes(run),
    dispose() {
      store.dispose();
      optimizer.dispose();
    },
  };
}

/** Runs `run` once under tf.profile and returns milliseconds per kernel name (a bench line's `profile`). */
export async function kernelTimes(run: () => unknown): Promise<Map<string, number>> {
  const info = await tf.profile(() => {
    run();
  });
  const perKernel = new Map<string, number>();
  for (const kernel of info.kernels) {
    const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    perKernel.set(kernel.name, (perKernel.get(kernel.name) ?? 0) + ms);
  }
  return perKernel;
}
