import * as tf from '@tensorflow/tfjs-core';
import { SslError } from '@ssl/core';
import type { Encoder } from '@ssl/core';
import { episodeSampler } from './episodes';
import { featureCount } from './feature-set';
import { episodeTensors } from './maml';
import type { EpisodeTensors, MetaEvalOptions } from './maml';
import { summarize } from './statistics';
import type { Summary } from './statistics';
import type { FeatureSet } from './types';

/**
 * Prototypical Networks' class scores (Snell et al. 2017, eq. 1–2): prototypes c_k are the mean support
 * embeddings of each way, and a query's logits are −‖f(x) − c_k‖² (squared Euclidean, as the paper).
 */
export function prototypicalLogits(
  supportEmbeddings: tf.Tensor2D,
  supportLabels: tf.Tensor1D,
  queryEmbeddings: tf.Tensor2D,
  ways: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const assignment = tf.oneHot(supportLabels, ways).toFloat(); // [support, ways]
    const counts = tf.sum(assignment, 0).reshape([ways, 1]);
    const prototypes = tf.div(tf.matMul(assignment, supportEmbeddings, true, false), counts); // [ways, dim]
    const squaredDistances = tf.add(
      tf.sub(tf.sum(tf.square(queryEmbeddings), 1, true), tf.mul(2, tf.matMul(queryEmbeddings, prototypes, false, true))),
      tf.sum(tf.square(prototypes), 1).reshape([1, ways]),
    );
    return tf.neg(squaredDistances) as tf.Tensor2D;
  });
}

export interface PrototypicalTrainOptions {
  ways: number;
  shots: number;
  /** Query rows per class (default 15). */
  queries?: number;
  episodes: number;
  /** Adam learning rate (default 1e-3, as the paper). */
  learningRate?: number;
  classes?: readonly number[];
  inputShape?: readonly number[];
  seed?: number;
}

/**
 * Trains `encoder` in place as a Prototypical Network: one Adam step per episode on the cross-entropy of
 * the queries' −squared-distance logits. The rows of `data` are network inputs.
 */
export async function trainPrototypicalNetwork(encoder: Encoder, data: FeatureSet, options: PrototypicalTrainOptions): Promise<number[]> {
  featureCount(data, 'data');
  const sample = episodeSampler(data.labels, {
    ways: options.ways,
    shots: options.shots,
    queries: options.queries ?? 15,
    classes: options.classes,
    seed: options.seed,
  });
  const optimizer = tf.train.adam(options.learningRate ?? 1e-3);
  const variables = encoder.model.trainableWeights.map((weight) => weight.read() as tf.Variable);
  const losses: number[] = [];
  try {
    for (let e = 0; e < options.episodes; e++) {
      const episode = episodeTensors(data, sample(), options.inputShape);
      const loss = optimizer.minimize(() => prototypicalLoss(encoder, episode, options.ways), true, variables) as tf.Scalar;
      const value = (await loss.data())[0];
      tf.dispose([loss, ...(Object.values(episode) as tf.Tensor[])]);
      if (!Number.isFinite(value))
        throw new SslError('non-finite-loss', `Prototypical loss is ${value} at episode ${e}: lower the learning rate.`);
      losses.push(value);
    }
  } finally {
    optimizer.dispose();
  }
  return losses;
}

function prototypicalLoss(encoder: Encoder, episode: EpisodeTensors, ways: number): tf.Scalar {
  const support = encoder.features(episode.supportInputs as tf.Tensor2D, { training: true });
  const query = encoder.features(episode.queryInputs as tf.Tensor2D, { training: true });
  const logits = prototypicalLogits(support, episode.supportLabels, query, ways);
  return tf.losses.softmaxCrossEntropy(tf.oneHot(episode.queryLabels, ways), logits) as tf.Scalar;
}

/** Held-out episodes scored by nearest prototype (squared Euclidean) in the encoder's features: mean ± 95% CI. */
export async function evaluatePrototypical(
  encoder: Encoder,
  data: FeatureSet,
  options: MetaEvalOptions,
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
    const predicted = tf.tidy(() =>
      tf.argMax(
        prototypicalLogits(
          encoder.features(episode.supportInputs as tf.Tensor2D),
          episode.supportLabels,
          encoder.features(episode.queryInputs as tf.Tensor2D),
          options.ways,
        ),
        1,
      ),
    );
    const [p, labels] = [(await predicted.data()) as Int32Array, (await episode.queryLabels.data()) as Int32Array];
    accuracies.push(p.reduce((n, v, i) => n + (v === labels[i] ? 1 : 0), 0) / labels.length);
    tf.dispose([predicted, ...(Object.values(episode) as tf.Tensor[])]);
  }
  return { ...summarize(accuracies), accuracies };
}
