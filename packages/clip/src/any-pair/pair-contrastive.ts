import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor2D } from '@tensorflow/tfjs-core';
import { SslError, defineMethod, invalidConfig, l2Normalize } from '@ssl/core';
import type { Encoder, HeldOutFigure, LoadedRun, MethodDefinition, MethodRuntime, tfl } from '@ssl/core';
import { clipProjection, logitScaleNetwork, validateLogitScale } from '../clip/clip';
import { clipLoss } from '../losses/clip-loss';
import { multiPositiveInfoNce } from '../audio-visual/audio-visual';
import { retrievalRecall } from '../zero-shot/zero-shot';
import type { RetrievalRecall } from '../zero-shot/zero-shot';
import type { Modality, ModalityTower } from './modality';
import type { PairBatch, PairData } from './pair-data';

/** CLIP's objective between any two modalities: the joint space, the learned temperature and its bound. */
export interface PairContrastiveConfig {
  /** Size of the shared embedding space both projections map to. */
  embedDim: number;
  /** τ at initialisation: the logit scale starts at 1/τ (CLIP: 0.07). */
  initialTemperature: number;
  /** Upper bound of the logit scale (CLIP: 100). */
  maxLogitScale: number;
  /** Learn the logit scale (CLIP) or keep it at 1/initialTemperature. */
  learnLogitScale: boolean;
}

export const PAIR_CONTRASTIVE_DEFAULTS: PairContrastiveConfig = {
  embedDim: 64,
  initialTemperature: 0.07,
  maxLogitScale: 100,
  learnLogitScale: true,
};

/** A trained pair model: both towers, projections and logit scale; embeddings are L2-normalised, inference mode. */
export interface PairModel<First = unknown, Second = unknown> {
  readonly first: ModalityTower<First>;
  readonly second: ModalityTower<Second>;
  readonly firstProjection: tfl.LayersModel;
  readonly secondProjection: tfl.LayersModel;
  readonly logLogitScale: tf.Variable;
  readonly maxLogitScale: number;
  logitScale(): number;
  embedFirst(samples: readonly First[]): Tensor2D;
  embedSecond(samples: readonly Second[]): Tensor2D;
}

export type PairRuntime = MethodRuntime<'modality-pairs'> & { readonly pair: PairModel };

/** A modality, or one made from the method's config (its sizes as config fields, e.g. the audio CNN's channels). */
export type ModalityOf<Sample, Config> = Modality<Sample> | ((config: Config) => Modality<Sample>);

export interface PairContrastiveOptions<First, Second, Config extends PairContrastiveConfig = PairContrastiveConfig> {
  /** Method name within the plugin that registers it, e.g. 'audio-text' (→ 'clip:audio-text'). */
  readonly name: string;
  readonly first: ModalityOf<First, Config>;
  readonly second: ModalityOf<Second, Config>;
  readonly description?: string;
  /** Defaults of the config: PAIR_CONTRASTIVE_DEFAULTS's fields and any the modalities read. */
  readonly defaults?: Partial<Config>;
  /** Checks of the config's own fields (the shared ones are checked always); throw with invalidConfig(field, ...). */
  readonly validate?: (config: Config) => void;
  readonly training?: MethodDefinition['training'];
  /** The method's own held-out task (e.g. retrieval on a test split); `pairHeldOutFigures` is the usual one. */
  readonly heldOutTask?: (model: PairModel<First, Second>, heldOut: unknown, seed: number) => Promise<readonly HeldOutFigure[]>;
}

/** The modality of a side for a config. */
export function resolveModality<Sample, Config>(modality: ModalityOf<Sample, Config>, config: Config): Modality<Sample> {
  return typeof modality === 'function' ? modality(config) : modality;
}

function assemble<First, Second>(parts: Omit<PairModel<First, Second>, 'logitScale' | 'embedFirst' | 'embedSecond'>) {
  const maxLog = Math.log(parts.maxLogitScale);
  const forward = <S>(
    tower: ModalityTower<S>,
    projection: tfl.LayersModel,
    samples: readonly S[],
    training: boolean,
    rng?: Parameters<ModalityTower<S>['toInput']>[1],
  ) => projection.apply(tower.encoder.features(tower.toInput(samples, rng), { training }), { training }) as Tensor2D;
  const model: PairModel<First, Second> = {
    ...parts,
    logitScale: () => Math.exp(Math.min(maxLog, parts.logLogitScale.dataSync()[0])),
    embedFirst: (samples) => tf.tidy(() => l2Normalize(forward(parts.first, parts.firstProjection, samples, false))),
    embedSecond: (samples) => tf.tidy(() => l2Normalize(forward(parts.second, parts.secondProjection, samples, false))),
  };
  return { model, forward, maxLog };
}

/**
 * CLIP's symmetric InfoNCE when rows may share a group (the same text under several voices): with logits
 * z = s · A·Bᵀ (A, B L2-normalised, s the logit scale), L = ½ [ mean_i −Σ_j t_ij log softmax_j(z_i·) +
 * mean_j −Σ_i t_ij log softmax_i(z_·j) ], t_i uniform over the rows of i's group. All groups distinct: clipLoss.
 */
export function groupedClipLoss(first: Tensor2D, second: Tensor2D, logitScale: Scalar | number, groups: Int32Array): Scalar {
  if (new Set(groups).size === groups.length) return clipLoss(first, second, logitScale);
  return tf.tidy(() => {
    const logits = tf.mul(logitScale, tf.matMul(l2Normalize(first), l2Normalize(second), false, true)) as Tensor2D;
    const group = tf.tensor1d(groups, 'int32');
    const positives = tf.cast(tf.equal(tf.expandDims(group, 1), tf.expandDims(group, 0)), 'float32') as Tensor2D;
    const rows = multiPositiveInfoNce(logits, positives);
    const columns = multiPositiveInfoNce(tf.transpose(logits) as Tensor2D, tf.transpose(positives) as Tensor2D);
    return tf.div(tf.add(rows, columns), 2) as Scalar;
  });
}

function validate(config: PairContrastiveConfig): void {
  if (!(Number.isInteger(config.embedDim) && config.embedDim >= 1)) invalidConfig('embedDim', config.embedDim, 'a positive integer');
  validateLogitScale(config);
}

/**
 * A CLIP-style method between any two modalities: two towers (`first`, `second`), linear projections into a joint
 * space, and CLIP's symmetric InfoNCE with a learned, clamped logit scale (pairs of one group are each other's
 * positives). Register the result in a plugin (`methods: { 'audio-text': pairContrastive({...}) }`); it trains on
 * the 'modality-pairs' data kind (`pairData`, registered by @ssl/clip's plugin — register it in yours too). The
 * run's encoder is the first tower; the second tower, projections, logit scale and modality states are products,
 * reloaded by `pairModelFromRun`.
 */
export function pairContrastive<First, Second, Config extends PairContrastiveConfig = PairContrastiveConfig>(
  options: PairContrastiveOptions<First, Second, Config>,
): MethodDefinition<Config, 'modality-pairs'> {
  const defaults = { ...PAIR_CONTRASTIVE_DEFAULTS, ...options.defaults } as Config;
  const names = [resolveModality(options.first, defaults).name, resolveModality(options.second, defaults).name];
  return defineMethod<Config, 'modality-pairs'>({
    name: options.name,
    description: options.description ?? `contrastive ${names[0]}–${names[1]} pretraining: CLIP's symmetric loss between two towers`,
    paper: {
      title: 'Learning Transferable Visual Models From Natural Language Supervision',
      authors: 'Radford, Kim, Hallacy, Ramesh, Goh, Agarwal, Sastry, Askell, Mishkin, Clark, Krueger, Sutskever',
      year: 2021,
      url: 'https://arxiv.org/abs/2103.00020',
    },
    data: 'modality-pairs',
    defaults,
    validate(config) {
      validate(config);
      options.validate?.(config);
    },
    views: () => ({ unlabeled: 'none' }),
    training: options.training ?? {
      optimizer: { kind: 'adamw', lr: 2e-3, beta1: 0.9, beta2: 0.98, epsilon: 1e-6, weightDecay: 0.1 },
      schedule: { kind: 'warmup-cosine', warmupFraction: 0.05 },
      batchSize: 64,
      epochs: 10,
    },
    build({ config, createEncoder, captions, rng }): PairRuntime {
      const first = resolveModality(options.first, config);
      const second = resolveModality(options.second, config);
      const texts = captions ?? [];
      const context = { texts, createImageEncoder: createEncoder };
      const firstTower = first.tower({ ...context, seed: rng.seed() });
      const secondTower = second.tower({ ...context, seed: rng.seed() });
      const firstProjection = clipProjection(firstTower.encoder.featureDim, config.embedDim, `pair_${first.name}_projection`, rng.seed());
      const secondProjection = clipProjection(
        secondTower.encoder.featureDim,
        config.embedDim,
        `pair_${second.name}_projection`,
        rng.seed(),
      );
      const { network: scaleNetwork, logLogitScale } = logitScaleNetwork(config, 'pair_logit_scale');
      const { model, forward, maxLog } = assemble<First, Second>({
        first: firstTower,
        second: secondTower,
        firstProjection,
        secondProjection,
        logLogitScale,
        maxLogitScale: config.maxLogitScale,
      });
      return {
        encoder: firstTower.encoder,
        trainable: {
          firstEncoder: firstTower.encoder.model,
          secondEncoder: secondTower.encoder.model,
          firstProjection,
          secondProjection,
          ...(config.learnLogitScale ? { logitScale: scaleNetwork } : {}),
        },
        ...(config.learnLogitScale ? {} : { frozen: { logitScale: scaleNetwork } }),
        pair: model as PairModel,
        products: () => ({
          secondEncoder: secondTower.encoder,
          firstProjection,
          secondProjection,
          logitScale: { json: { logLogitScale: logLogitScale.dataSync()[0], maxLogitScale: config.maxLogitScale } },
          modalities: { json: { first: firstTower.state?.() ?? null, second: secondTower.state?.() ?? null } },
        }),
        ...(options.heldOutTask
          ? { heldOutTask: (heldOut: unknown, { seed }: { seed: number }) => options.heldOutTask!(model, heldOut, seed) }
          : {}),
        step(batch: PairBatch, { rng: stepRng }) {
          const a = forward(firstTower, firstProjection, batch.first as First[], true, { rng: stepRng });
          const b = forward(secondTower, secondProjection, batch.second as Second[], true, { rng: stepRng });
          // scale = exp(t), clamped at maxLogitScale in the forward pass too (zero gradient above the bound).
          const logitScale = tf.exp(tf.minimum(logLogitScale, maxLog)) as Scalar;
          return { loss: groupedClipLoss(a, b, logitScale, batch.groups), metrics: { logitScale } };
        },
        afterStep() {
          // CLIP clips the learned temperature so the logit scale never exceeds its bound (sec. 2.5).
          logLogitScale.assign(tf.clipByValue(logLogitScale, 0, maxLog));
        },
      };
    },
  });
}

/** The pair model of a pairContrastive run (`train(...).runtime`). */
export function pairModelOf<First = unknown, Second = unknown>(runtime: MethodRuntime): PairModel<First, Second> {
  const model = (runtime as Partial<PairRuntime>).pair;
  if (!model) throw new SslError('invalid-config', 'Expected the runtime of a pairContrastive run (train(...).runtime).');
  return model as PairModel<First, Second>;
}

/**
 * The pair model of a finished run loaded in any process (`loadRun(outDir)`), given the same two modalities the
 * method was defined with. The logit scale is a new variable; `run.dispose()` frees the networks.
 */
export function pairModelFromRun<First, Second>(
  run: LoadedRun,
  modalities: { readonly first: Modality<First>; readonly second: Modality<Second> },
): PairModel<First, Second> {
  if (!run.encoder) throw new SslError('io', `${run.dir} has no saved first-tower encoder (encoder/model.json).`);
  const scale = run.json<{ logLogitScale: number; maxLogitScale: number }>('logitScale');
  const states = run.json<{ first: never; second: never }>('modalities');
  return assemble<First, Second>({
    first: modalities.first.restore(run.encoder as Encoder, states.first ?? undefined),
    second: modalities.second.restore(run.encoderProduct('secondEncoder') as Encoder, states.second ?? undefined),
    firstProjection: run.network('firstProjection'),
    secondProjection: run.network('secondProjection'),
    logLogitScale: tf.variable(tf.scalar(scale.logLogitScale), false),
    maxLogitScale: scale.maxLogitScale,
  }).model;
}

/** Embeds samples in chunks (inference), concatenated [N, D]. */
function embedAll<S>(embed: (samples: readonly S[]) => Tensor2D, samples: readonly S[], chunk = 128): Tensor2D {
  const parts: Tensor2D[] = [];
  for (let start = 0; start < samples.length; start += chunk) parts.push(embed(samples.slice(start, start + chunk)));
  const joined = tf.concat(parts, 0) as Tensor2D;
  tf.dispose(parts);
  return joined;
}

/** Recall@k both ways on held-out pairs (row i of each side belongs together; for unique pairs): first→second and second→first. */
export function pairRetrieval<First, Second>(
  model: PairModel<First, Second>,
  pairs: Pick<PairData<First, Second>, 'first' | 'second'>,
  ks: readonly number[] = [1, 5],
): { firstToSecond: RetrievalRecall['imageToText']; secondToFirst: RetrievalRecall['textToImage'] } {
  const a = embedAll((s) => model.embedFirst(s), pairs.first);
  const b = embedAll((s) => model.embedSecond(s), pairs.second);
  try {
    const recall = retrievalRecall(a, b, ks);
    return { firstToSecond: recall.imageToText, secondToFirst: recall.textToImage };
  } finally {
    tf.dispose([a, b]);
  }
}

/**
 * Zero-shot classification of first-modality samples (CLIP sec. 3.1.2 generalised): `prompts[c]` are one or more
 * second-modality samples for class c. `pool: 'mean'` (CLIP's prompt ensembling): a class is the normalised mean of
 * its prompts' unit embeddings; `'nearest'`: a class scores its most similar prompt (for prompts that were trained as
 * distinct pairs, such as a class name and a description of it, whose mean lies near neither). Returns the predicted
 * class of each sample.
 */
export function pairZeroShot<First, Second>(
  model: PairModel<First, Second>,
  samples: readonly First[],
  prompts: ReadonlyArray<readonly Second[]>,
  options: { readonly pool?: 'mean' | 'nearest' } = {},
): Int32Array {
  if (prompts.length === 0 || prompts.some((p) => p.length === 0)) invalidConfig('prompts', prompts, 'at least one prompt for every class');
  const pool = options.pool ?? 'mean';
  const promptEmbeddings = prompts.map((p) => model.embedSecond(p));
  const embedded = embedAll((s) => model.embedFirst(s), samples);
  try {
    const predicted = tf.tidy(() => {
      const scores =
        pool === 'mean'
          ? tf.matMul(embedded, l2Normalize(tf.stack(promptEmbeddings.map((e) => tf.mean(e, 0))) as Tensor2D), false, true)
          : tf.stack(
              promptEmbeddings.map((e) => tf.max(tf.matMul(embedded, e, false, true), 1)),
              1,
            );
      return tf.argMax(scores, 1);
    });
    const out = Int32Array.from(predicted.dataSync());
    predicted.dispose();
    return out;
  } finally {
    tf.dispose([...promptEmbeddings, embedded]);
  }
}

/**
 * The held-out figures of a pair model on `PairData` of pairs it never saw: recall@1 both ways over the held-out
 * pairs whose second sample is unique (chance 1/N), and with labels, zero-shot top-1 from one prompt set per
 * class, `prompts` (chance 1/classes).
 */
export function pairHeldOutFigures<First, Second>(
  model: PairModel<First, Second>,
  pairs: PairData<First, Second>,
  options: {
    readonly names: readonly [string, string];
    readonly prompts?: ReadonlyArray<readonly Second[]>;
    readonly pool?: 'mean' | 'nearest';
  },
): HeldOutFigure[] {
  const [firstName, secondName] = options.names;
  const seen = new Map<unknown, number>();
  pairs.second.forEach((sample) => seen.set(sample, (seen.get(sample) ?? 0) + 1));
  const unique = pairs.second.flatMap((sample, row) => ((seen.get(sample) ?? 0) === 1 ? [row] : []));
  const figures: HeldOutFigure[] = [];
  if (unique.length >= 2) {
    const recall = pairRetrieval(model, { first: unique.map((i) => pairs.first[i]), second: unique.map((i) => pairs.second[i]) }, [1]);
    const chance = { name: 'chance', value: 1 / unique.length };
    figures.push(
      {
        name: `${firstName}→${secondName} recall@1 (${unique.length} pairs)`,
        kind: 'accuracy',
        value: recall.firstToSecond[1],
        reference: chance,
      },
      {
        name: `${secondName}→${firstName} recall@1 (${unique.length} pairs)`,
        kind: 'accuracy',
        value: recall.secondToFirst[1],
        reference: chance,
      },
    );
  }
  if (pairs.labels && options.prompts) {
    const predicted = pairZeroShot(model, pairs.first, options.prompts, { pool: options.pool ?? 'mean' });
    const correct = predicted.reduce((n, label, i) => n + (label === pairs.labels![i] ? 1 : 0), 0);
    figures.push({
      name: `zero-shot ${firstName} top-1 from ${secondName} prompts (${options.pool === 'nearest' ? 'nearest prompt' : 'prompt mean'})`,
      kind: 'accuracy',
      value: correct / predicted.length,
      reference: { name: 'chance', value: 1 / options.prompts.length },
    });
  }
  return figures;
}
