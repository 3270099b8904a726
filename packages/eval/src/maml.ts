import * as tf from '@tensorflow/tfjs-core';
import { Random, SslError, functionalForward, stopGradient, trainableWeightMap } from '@ssl/core';
import type { Encoder } from '@ssl/core';
import { episodeSampler } from './episodes';
import type { Episode } from './episodes';
import { featureCount } from './feature-set';
import { summarize } from './statistics';
import type { Summary } from './statistics';
import type { FeatureSet } from './types';

/** A network MAML adapts: a core encoder and a linear head with one output per way. */
export interface MamlLearner {
  readonly encoder: Encoder;
  /** Meta-parameters θ by name: the encoder's trainable weights plus `head/kernel` and `head/bias`. */
  readonly parameters: tf.NamedTensorMap;
  readonly ways: number;
  dispose(): void;
}

/**
 * Wraps `encoder` with a linear head of `ways` outputs (weights ~ N(0, 1/featureDim), seeded). The
 * encoder's variables are the meta-parameters and are updated in place by `trainMaml`; the caller owns the
 * encoder, `dispose()` frees only the head.
 */
export function mamlLearner(encoder: Encoder, ways: number, seed = 0): MamlLearner {
  const random = new Random(seed);
  const scale = 1 / Math.sqrt(encoder.featureDim);
  const kernel = tf.variable(
    tf.tensor2d(
      Float32Array.from({ length: encoder.featureDim * ways }, () => random.normal() * scale),
      [encoder.featureDim, ways],
    ),
    true,
  );
  const bias = tf.variable(tf.zeros([ways]), true);
  return {
    encoder,
    parameters: { ...trainableWeightMap(encoder.model), 'head/kernel': kernel, 'head/bias': bias },
    ways,
    dispose: () => tf.dispose([kernel, bias]),
  };
}

/** Logits [rows, ways] of the learner at the given parameters (a differentiable function of them). */
export function mamlLogits(learner: MamlLearner, parameters: tf.NamedTensorMap, inputs: tf.Tensor): tf.Tensor2D {
  const { 'head/kernel': kernel, 'head/bias': bias, ...encoderWeights } = parameters;
  const features = functionalForward(learner.encoder, encoderWeights, inputs as tf.Tensor2D, { training: true });
  return tf.add(tf.matMul(features, kernel as tf.Tensor2D), bias);
}

/** The loss of an episode's logits: the paper's softmax cross-entropy, or the squared loss on one-hot targets. */
export type MamlLoss = 'cross-entropy' | 'squared';

/**
 * e^x whose gradient is computed again from x. tfjs's own Exp gradient multiplies by the saved forward
 * output, and the engine records that saved copy on the tape before the op that made it, so a gradient of
 * the gradient never reaches x through it: the second derivative of exp comes out 0. Here only the input is
 * saved, and it is already on the tape, so ∂/∂x (dy · e^x) is differentiated to any order.
 */
const expOfInput = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return { value: tf.exp(x), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.exp(saved[0])) };
}) as Parameters<typeof tf.customGrad>[0]);

/**
 * max_j z_j of each row as a constant: the max is taken inside the custom op, so no Max op (whose gradient
 * records an Equal that has no gradient of its own) lands on the tape, and the gradient is 0.
 */
const constantRowMax = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.max(x, 1, true),
  gradFunc: () => tf.zeros(x.shape),
})) as Parameters<typeof tf.customGrad>[0]);

/**
 * Mean softmax cross-entropy of logits [rows, ways] against integer labels, differentiable to second order:
 * log p_k = z_k − m − log Σ_j e^{z_j − m} with m = max_j z_j held constant (the log-sum-exp is the same for
 * any m, so its gradient through m is 0 and stopping it changes no derivative, while keeping e^{z − m} ≤ 1).
 * tfjs's softmaxCrossEntropy and logSoftmax save their forward outputs for the backward pass, so their
 * gradients are exact once but not twice — MAML's meta-gradient differentiates the inner gradient again.
 */
export function crossEntropyOfLogits(logits: tf.Tensor2D, labels: tf.Tensor1D, ways: number): tf.Scalar {
  return tf.tidy((): tf.Scalar => {
    const shifted = tf.sub(logits, constantRowMax(logits));
    const logSumExp = tf.log(tf.sum(expOfInput(shifted), 1, true));
    const logProbabilities = tf.sub(shifted, logSumExp);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(labels, ways).toFloat(), logProbabilities), 1))) as tf.Scalar;
  });
}

/**
 * An episode's loss (Finn et al. 2017, eq. 3 for N-way classification): the softmax cross-entropy of the
 * queries (default), or with `'squared'` the mean squared error between the logits and one-hot targets
 * (classification with the squared loss, Hui & Belkin 2021), whose derivatives need no exp or log.
 */
export function episodeLoss(logits: tf.Tensor2D, labels: tf.Tensor1D, ways: number, loss: MamlLoss = 'cross-entropy'): tf.Scalar {
  if (loss === 'cross-entropy') return crossEntropyOfLogits(logits, labels, ways);
  return tf.mean(tf.sum(tf.square(tf.sub(logits, tf.oneHot(labels, ways).toFloat())), 1));
}

export interface MamlStepOptions {
  innerSteps: number;
  /** α of the inner SGD steps. */
  innerLearningRate: number;
  /** First-order MAML: the inner gradients are constants, dropping the Hessian term (Finn et al. 2017, §5.2). */
  firstOrder?: boolean;
  /** The inner and outer loss (default 'cross-entropy', the paper's). */
  loss?: MamlLoss;
}

/** An episode's tensors: inputs shaped for the network, labels 0 … ways − 1. */
export interface EpisodeTensors {
  supportInputs: tf.Tensor;
  supportLabels: tf.Tensor1D;
  queryInputs: tf.Tensor;
  queryLabels: tf.Tensor1D;
}

/** θ' after `innerSteps` SGD steps on the support set: θ' = θ − α ∇θ L_support(θ), repeated. */
export function adaptParameters(
  learner: MamlLearner,
  parameters: tf.NamedTensorMap,
  episode: EpisodeTensors,
  options: MamlStepOptions,
): tf.NamedTensorMap {
  const names = Object.keys(parameters);
  let current = names.map((name) => parameters[name]);
  for (let step = 0; step < options.innerSteps; step++) {
    const gradients = tf.grads((...p: tf.Tensor[]) =>
      episodeLoss(mamlLogits(learner, mapOf(names, p), episode.supportInputs), episode.supportLabels, learner.ways, options.loss),
    )(current);
    current = current.map((p, i) =>
      tf.sub(p, tf.mul(options.firstOrder ? stopGradient(gradients[i]) : gradients[i], options.innerLearningRate)),
    );
  }
  return mapOf(names, current);
}

/** MAML's meta-objective for one episode, L_query(θ'(θ)) (Finn et al. 2017, eq. 1 inside the sum). */
export function mamlEpisodeLoss(
  learner: MamlLearner,
  parameters: tf.NamedTensorMap,
  episode: EpisodeTensors,
  options: MamlStepOptions,
): tf.Scalar {
  const adapted = adaptParameters(learner, parameters, episode, options);
  return episodeLoss(mamlLogits(learner, adapted, episode.queryInputs), episode.queryLabels, learner.ways, options.loss);
}

/** ∇θ of the mean episode loss over a meta-batch, by name; second order unless `firstOrder`. */
export function mamlMetaGradient(
  learner: MamlLearner,
  episodes: readonly EpisodeTensors[],
  options: MamlStepOptions,
): { loss: tf.Scalar; gradients: tf.NamedTensorMap } {
  const names = Object.keys(learner.parameters);
  const theta = names.map((name) => learner.parameters[name]);
  return tf.tidy(() => {
    const { value, grads } = tf.valueAndGrads(
      (...p: tf.Tensor[]) =>
        tf.div(
          tf.addN(episodes.map((episode) => mamlEpisodeLoss(learner, mapOf(names, p), episode, options))),
          episodes.length,
        ) as tf.Scalar,
    )(theta);
    return { loss: value, gradients: mapOf(names, grads) };
  });
}

function mapOf(names: readonly string[], tensors: readonly tf.Tensor[]): tf.NamedTensorMap {
  return Object.fromEntries(names.map((name, i) => [name, tensors[i]]));
}

export interface MamlTrainOptions extends MamlStepOptions {
  ways: number;
  shots: number;
  /** Query rows per class of each training episode (default 15, as the paper's miniImageNet setup). */
  queries?: number;
  /** Meta-iterations (outer Adam steps). */
  iterations: number;
  /** Episodes per meta-batch (default 4, the paper's miniImageNet meta-batch). */
  metaBatchSize?: number;
  /** β, the Adam learning rate of the outer loop (default 1e-3, as the paper). */
  metaLearningRate?: number;
  /** Meta-train classes. */
  classes?: readonly number[];
  /** Shape of one input row for the network (default [dim]). */
  inputShape?: readonly number[];
  seed?: number;
  onIteration?: (iteration: number, loss: number) => void;
}

/**
 * Meta-trains `learner` with MAML (Finn et al. 2017, Alg. 2): for each meta-batch of episodes, adapt θ on
 * each support set with `innerSteps` SGD steps of size α, and take one Adam step of size β on the mean
 * query loss at the adapted weights, θ ← θ − β ∇θ Σ_i L(θ − α∇θ L(θ, D_i^train), D_i^test). The rows of
 * `data` are network inputs (e.g. pixels / 255, or frozen features).
 */
export async function trainMaml(learner: MamlLearner, data: FeatureSet, options: MamlTrainOptions): Promise<number[]> {
  featureCount(data, 'data');
  if (options.ways !== learner.ways)
    throw new SslError('invalid-config', `trainMaml ways ${options.ways} differs from the learner's ${learner.ways}.`);
  const sample = episodeSampler(data.labels, {
    ways: options.ways,
    shots: options.shots,
    queries: options.queries ?? 15,
    classes: options.classes,
    seed: options.seed,
  });
  const optimizer = tf.train.adam(options.metaLearningRate ?? 1e-3);
  const variables = Object.entries(learner.parameters).map(([name, tensor]) => ({ name, variable: tensor as tf.Variable }));
  const losses: number[] = [];
  try {
    for (let iteration = 0; iteration < options.iterations; iteration++) {
      const batch = Array.from({ length: options.metaBatchSize ?? 4 }, () => episodeTensors(data, sample(), options.inputShape));
      const { loss, gradients } = mamlMetaGradient(learner, batch, options);
      optimizer.applyGradients(variables.map(({ name, variable }) => ({ name: variable.name, tensor: gradients[name] })));
      const value = (await loss.data())[0];
      tf.dispose([loss, ...Object.values(gradients), ...batch.flatMap((e) => Object.values(e) as tf.Tensor[])]);
      if (!Number.isFinite(value))
        throw new SslError('non-finite-loss', `MAML meta-loss is ${value} at iteration ${iteration}: lower α or β.`);
      losses.push(value);
      options.onIteration?.(iteration, value);
    }
  } finally {
    optimizer.dispose();
  }
  return losses;
}

/** Tensors of an episode's rows of `data`, shaped [rows, ...inputShape]. */
export function episodeTensors(data: FeatureSet, episode: Episode, inputShape: readonly number[] = [data.dim]): EpisodeTensors {
  const gather = (rows: Int32Array) => {
    const values = new Float32Array(rows.length * data.dim);
    rows.forEach((row, i) => values.set(data.features.subarray(row * data.dim, (row + 1) * data.dim), i * data.dim));
    return tf.tensor(values, [rows.length, ...inputShape]);
  };
  return {
    supportInputs: gather(episode.support),
    supportLabels: tf.tensor1d(episode.supportLabels, 'int32'),
    queryInputs: gather(episode.query),
    queryLabels: tf.tensor1d(episode.queryLabels, 'int32'),
  };
}

export interface MetaEvalOptions {
  ways: number;
  shots: number;
  queries?: number;
  episodes?: number;
  /** Held-out classes. */
  classes?: readonly number[];
  inputShape?: readonly number[];
  seed?: number;
}

/**
 * Few-shot accuracy of a meta-trained learner on held-out episodes: adapt with `innerSteps` steps of α on
 * each support set (the paper uses more steps at test than in training, e.g. 10 vs 5), score the queries.
 * Mean ± 95% CI over episodes.
 */
export async function evaluateMaml(
  learner: MamlLearner,
  data: FeatureSet,
  options: MetaEvalOptions & { innerSteps: number; innerLearningRate: number; loss?: MamlLoss },
): Promise<Summary & { accuracies: number[] }> {
  const sample = episodeSampler(data.labels, {
    ways: options.ways,
    shots: options.shots,
    queries: options.queries ?? 15,
    classes: options.classes,
    seed: options.seed,
  });
  const accuracies: number[] = [];
  for (let e = 0; e < (options.episodes ?? 600); e++) {
    const episode = episodeTensors(data, sample(), options.inputShape);
    const predicted = tf.tidy(() => {
      const adapted = adaptParameters(learner, learner.parameters, episode, { ...options, firstOrder: true });
      return tf.argMax(mamlLogits(learner, adapted, episode.queryInputs), 1);
    });
    accuracies.push(accuracy((await predicted.data()) as Int32Array, (await episode.queryLabels.data()) as Int32Array));
    tf.dispose([predicted, ...(Object.values(episode) as tf.Tensor[])]);
  }
  return { ...summarize(accuracies), accuracies };
}

function accuracy(predicted: Int32Array, labels: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / labels.length;
}
