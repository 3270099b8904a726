import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Variable } from '@tensorflow/tfjs-core';
import { SslError, createRegistry, defineMethod, definePlugin, emaUpdate, invalidConfig, isSslError, supportedCoreRange } from '@ssl/core';
import type {
  BuildContext,
  Encoder,
  MethodDefinition,
  MethodHandle,
  MethodProducts,
  MethodRuntime,
  Plugin,
  Registry,
  StepContext,
  UnlabeledBatch,
  ViewPolicy,
  ViewPolicyRef,
  tfl,
} from '@ssl/core';
import packageJson from '../package.json';

/**
 * Multi-task learning with hard parameter sharing (Caruana 1997; for self-supervised tasks, Doersch &
 * Zisserman 2017): one encoder, several methods' heads and losses, trained together on the weighted sum
 * L = Σ_t w_t · L_t. Each task keeps its own views, heads, teachers and state; only the encoder is shared.
 */

/** One task of a combination: a registered method on unlabeled images, its weight and its config. */
export interface MultiTaskEntry {
  /** A registered '<family>:<method>' whose data is unlabeled images, e.g. 'pretext:rotation'. */
  method: string;
  /** w_t in L = Σ_t w_t · L_t; default 1, must be > 0. */
  weight?: number;
  /** The method's config overrides (its defaults otherwise), checked by the method's own validate. */
  config?: Record<string, unknown>;
  /** Prefix of the task's networks, metrics and products; default the method's name ('rotation'). */
  name?: string;
}

export interface MultiTaskConfig {
  tasks: MultiTaskEntry[];
}

/** Soft sharing: an encoder per task, pulled together by λ Σ_t≥2 ‖θ_1 − θ_t‖² (Duong et al. 2015). */
export interface SoftSharingConfig extends MultiTaskConfig {
  /** λ of the squared L2 distance between task 1's encoder weights and each other task's. Default 1e-3; > 0. */
  penalty: number;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'multi-task:hard-sharing': MultiTaskConfig;
    'multi-task:soft-sharing': SoftSharingConfig;
  }
}

type Sharing = 'hard' | 'soft';

/** A task resolved against the registry: its handle, weight and the views it consumes of the combined policy. */
export interface ResolvedTask {
  readonly name: string;
  readonly weight: number;
  readonly handle: MethodHandle;
  readonly policy: ViewPolicy;
  /** How many of the combined batch's views are this task's (its policy's views, counts expanded). */
  readonly viewCount: number;
}

const TASK_NAME = /^[A-Za-z][A-Za-z0-9-]*$/;
const FAMILY = 'multi-task';

/** A method's unlabeled views as a concrete policy, resolved with the view policies of `registry`. */
function resolvePolicy(registry: Registry, ref: ViewPolicyRef | ViewPolicy | undefined): ViewPolicy {
  if (ref === undefined) return registry.viewPolicy('none');
  if (typeof ref === 'object' && 'views' in ref) return ref;
  if (typeof ref === 'string') return registry.viewPolicy(ref);
  return registry.viewPolicy(ref.name, ref.overrides ?? {});
}

/** A sub-method's config error, re-thrown with the path of the task's field in the combination's config. */
function taskConfigError(index: number, method: string, error: unknown): never {
  if (!isSslError(error) || error.code !== 'invalid-config') throw error;
  const inner = (error.details as { field?: unknown } | undefined)?.field;
  const field = `tasks[${index}].config${typeof inner === 'string' ? `.${inner}` : ''}`;
  throw new SslError('invalid-config', `${field} (${method}): ${error.message}`, { details: { field }, cause: error });
}

/** Resolves and checks every task of a combination; throws SslError('invalid-config') naming the field. */
export function resolveTasks(registry: Registry, config: MultiTaskConfig): ResolvedTask[] {
  const { tasks } = config;
  if (!Array.isArray(tasks) || tasks.length === 0)
    invalidConfig('tasks', tasks, 'a non-empty array of { method, weight?, config?, name? }');
  const names = new Set<string>();
  return tasks.map((entry, index) => {
    const field = `tasks[${index}]`;
    if (entry === null || typeof entry !== 'object') invalidConfig(field, entry, '{ method, weight?, config?, name? }');
    const { method } = entry;
    if (typeof method !== 'string' || method.length === 0) invalidConfig(`${field}.method`, method, "a registered '<family>:<method>'");
    if (method.startsWith(`${FAMILY}:`)) invalidConfig(`${field}.method`, method, 'a single method (a combination cannot nest another)');
    const weight = entry.weight ?? 1;
    if (!(typeof weight === 'number' && Number.isFinite(weight) && weight > 0))
      invalidConfig(`${field}.weight`, weight, 'a finite number > 0 (leave a task out to drop it)');
    let handle: MethodHandle;
    try {
      handle = registry.create(method as never, (entry.config ?? {}) as never) as MethodHandle;
    } catch (error) {
      if (isSslError(error) && error.code === 'unknown-method') {
        throw new SslError('invalid-config', `${field}.method: ${error.message}`, { details: { field: `${field}.method` }, cause: error });
      }
      taskConfigError(index, method, error);
    }
    const definition = handle.definition as MethodDefinition;
    if (definition.data !== 'unlabeled') {
      invalidConfig(`${field}.method`, method, `a method on unlabeled images (${handle.id} consumes '${definition.data}' batches)`);
    }
    if ((definition.rounds?.(handle.config) ?? 1) !== 1) invalidConfig(`${field}.method`, method, 'a one-round method');
    if (definition.encoderInput) {
      invalidConfig(
        `${field}.method`,
        method,
        `a method whose encoder sees the images (${handle.id}'s sees ${definition.encoderInput.description})`,
      );
    }
    const name = entry.name ?? definition.name;
    if (typeof name !== 'string' || !TASK_NAME.test(name))
      invalidConfig(`${field}.name`, name, 'letters, digits and -, starting with a letter');
    if (names.has(name)) invalidConfig(`${field}.name`, name, `a name no other task has (two tasks are called ${name}: name them)`);
    names.add(name);
    const policy = resolvePolicy(registry, definition.views(handle.config).unlabeled);
    const viewCount = policy.views.reduce((sum, view) => sum + (view.count ?? 1), 0);
    return { name, weight, handle, policy, viewCount };
  });
}

/** One policy holding every task's views in task order: the trainer draws them all, each step hands each task its own. */
export function combinedViewPolicy(tasks: readonly ResolvedTask[]): ViewPolicy {
  return {
    name: `multi-task(${tasks.map((task) => task.policy.name).join('+')})`,
    views: tasks.flatMap((task) => task.policy.views.map((view) => ({ ...view, name: `${task.name}/${view.name}` }))),
  };
}

function prefixed<T>(taskName: string, record: Readonly<Record<string, T>> | undefined, skip?: (value: T) => boolean): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [key, value] of Object.entries(record ?? {})) if (!skip?.(value)) out[`${taskName}-${key}`] = value;
  return out;
}

/** The batch task `index` sees: the images and ids of the batch, and its own slice of the combined views. */
function taskBatches(tasks: readonly ResolvedTask[], batch: UnlabeledBatch): UnlabeledBatch[] {
  let offset = 0;
  return tasks.map((task) => {
    const views = batch.views.slice(offset, offset + task.viewCount);
    offset += task.viewCount;
    return { kind: 'unlabeled', images: batch.images, views, indices: batch.indices };
  });
}

/**
 * Builds the tasks. Hard sharing: the first encoder a task asks for is the one shared encoder. Soft sharing:
 * each task's first encoder is its own. Any further encoder a task asks for (a momentum teacher) is a fresh
 * one of the same spec, as the task would get on its own.
 */
function buildTasks(
  tasks: readonly ResolvedTask[],
  context: BuildContext<MultiTaskConfig>,
  sharing: Sharing,
): { encoders: Encoder[]; runtimes: MethodRuntime[] } {
  const shared = sharing === 'hard' ? context.createEncoder() : undefined;
  const encoders: Encoder[] = [];
  const runtimes = tasks.map((task, t) => {
    let own: Encoder | undefined;
    const taskContext: BuildContext<object> = {
      ...context,
      config: task.handle.config,
      createEncoder: () => {
        if (own) return context.createEncoder();
        own = shared ?? context.createEncoder();
        return own;
      },
    };
    const runtime = (task.handle.definition as MethodDefinition).build(taskContext);
    if (!own || runtime.encoder.model !== own.model) {
      throw new SslError(
        'invalid-config',
        `${task.handle.id} (task ${task.name}) evaluates an encoder other than the first one it built, so it cannot take part in ${sharing} sharing: the method's encoder must be its first createEncoder().`,
      );
    }
    encoders[t] = own;
    return runtime;
  });
  return { encoders, runtimes };
}

/**
 * Task t's networks under `<task>-<name>`. The evaluated encoder (the shared one, or task 1's) comes first as
 * `encoder`, so its weights are named after it; a network several tasks hold is listed once.
 */
function combinedNetworks(tasks: readonly ResolvedTask[], evaluated: Encoder, runtimes: readonly MethodRuntime[]) {
  const isEvaluated = (model: tfl.LayersModel) => model === evaluated.model;
  const trainable: Record<string, tfl.LayersModel> = { encoder: evaluated.model };
  const frozen: Record<string, tfl.LayersModel> = {};
  const state: Record<string, Variable> = {};
  const scales: Record<string, number> = {};
  runtimes.forEach((runtime, i) => {
    const name = tasks[i].name;
    Object.assign(trainable, prefixed(name, runtime.trainable, isEvaluated));
    Object.assign(frozen, prefixed(name, runtime.frozen));
    Object.assign(state, prefixed(name, runtime.state));
    for (const [key, scale] of Object.entries(runtime.learningRateScales ?? {})) {
      if (runtime.trainable[key] && !isEvaluated(runtime.trainable[key])) scales[`${name}-${key}`] = scale;
    }
  });
  return { trainable, frozen, state, scales };
}

/**
 * Σ_t≥2 ‖θ_1 − θ_t‖²: the squared L2 distance between the trainable weights of task 1's encoder and of each
 * other task's (same spec, so the weights pair up in order), soft parameter sharing's penalty (Duong et al. 2015).
 */
export function encoderDistance(encoders: readonly Encoder[]): Scalar {
  return tf.tidy(() => {
    const reference = encoders[0].model.trainableWeights.map((w) => w.read());
    const terms = encoders.slice(1).flatMap((encoder) => {
      const weights = encoder.model.trainableWeights.map((w) => w.read());
      if (weights.length !== reference.length || weights.some((w, i) => w.shape.join() !== reference[i].shape.join())) {
        throw new SslError('shape-mismatch', 'soft sharing needs every task to build the same encoder spec: the weights do not pair up.');
      }
      return weights.map((w, i) => tf.sum(tf.squaredDifference(reference[i], w)));
    });
    return (terms.length === 0 ? tf.scalar(0) : tf.addN(terms)) as Scalar;
  });
}

const DEFAULT_TASKS: MultiTaskEntry[] = [
  { method: 'pretext:rotation', weight: 1 },
  { method: 'contrastive:simclr', weight: 1 },
];

function multiTaskDefinition<Config extends MultiTaskConfig>(
  registry: Registry,
  sharing: Sharing,
  defaults: Config,
): MethodDefinition<Config, 'unlabeled', Record<string, unknown>> {
  const validate = (config: Config): ResolvedTask[] => {
    const tasks = resolveTasks(registry, config);
    if (sharing === 'soft') {
      if (tasks.length < 2) invalidConfig('tasks', config.tasks, 'at least two tasks (soft sharing pulls their encoders together)');
      const penalty = (config as unknown as SoftSharingConfig).penalty;
      if (!(typeof penalty === 'number' && Number.isFinite(penalty) && penalty > 0))
        invalidConfig('penalty', penalty, 'a finite number > 0');
    }
    return tasks;
  };
  return defineMethod<Config, 'unlabeled', Record<string, unknown>>({
    name: `${sharing}-sharing`,
    description:
      sharing === 'hard'
        ? 'Multi-task learning: one encoder trained under several methods’ losses at once, L = Σ w_t L_t (hard parameter sharing).'
        : 'Multi-task learning: an encoder per method, L = Σ w_t L_t + λ Σ ‖θ_1 − θ_t‖² (soft parameter sharing); task 1’s encoder is evaluated.',
    paper: {
      title: 'Multi-task Self-Supervised Visual Learning',
      authors: 'Doersch, Zisserman',
      year: 2017,
      url: 'https://arxiv.org/abs/1708.07860',
    },
    data: 'unlabeled',
    defaults,
    validate: (config) => void validate(config),
    views: (config) => ({ unlabeled: combinedViewPolicy(resolveTasks(registry, config)) }),
    // One optimizer for every task: Adam with warmup-cosine (SimCLR's small-CNN recipe here), which also trains
    // RotNet's head; a task's own recommendation (RotNet's SGD at lr 0.1) would blow up the contrastive loss.
    training: {
      optimizer: { kind: 'adam', lr: 2e-3 },
      schedule: { kind: 'warmup-cosine', warmupFraction: 0.1 },
      batchSize: 128,
      epochs: 10,
    },
    build(context) {
      const tasks = resolveTasks(registry, context.config);
      const { encoders, runtimes } = buildTasks(tasks, context, sharing);
      const { trainable, frozen, state, scales } = combinedNetworks(tasks, encoders[0], runtimes);
      const penalty = sharing === 'soft' ? (context.config as unknown as SoftSharingConfig).penalty : 0;
      return {
        encoder: encoders[0],
        trainable,
        frozen,
        state,
        ...(Object.keys(scales).length > 0 ? { learningRateScales: scales } : {}),
        step(batch, stepContext) {
          const batches = taskBatches(tasks, batch);
          const weighted: Scalar[] = [];
          const metrics: Record<string, Scalar> = {};
          const carry: Record<string, unknown> = {};
          tasks.forEach((task, i) => {
            const out = runtimes[i].step(batches[i], stepContext);
            weighted.push(task.weight === 1 ? out.loss : (tf.mul(out.loss, task.weight) as Scalar));
            // Each task's own (unweighted) loss, so the log shows which task moves and which stalls.
            metrics[`${task.name}_loss`] = out.loss;
            for (const [key, value] of Object.entries(out.metrics ?? {})) metrics[`${task.name}_${key}`] = value;
            if (out.carry !== undefined) carry[task.name] = out.carry;
          });
          if (sharing === 'soft') {
            const distance = encoderDistance(encoders);
            metrics.encoder_distance = distance;
            weighted.push(tf.mul(distance, penalty) as Scalar);
          }
          return { loss: (weighted.length === 1 ? weighted[0] : tf.addN(weighted)) as Scalar, metrics, carry };
        },
        afterStep(batch, stepContext: StepContext, carry) {
          const batches = taskBatches(tasks, batch);
          runtimes.forEach((runtime, i) => {
            // What the trainer does for a single method's momentumPairs, in the same place: after the
            // optimizer update, before the method's afterStep. Each task keeps its own momentum schedule.
            const pairs = runtime.momentumPairs;
            if (pairs) {
              const momentum = pairs.momentum(stepContext);
              for (const { target, source } of pairs.pairs) emaUpdate(target, source, momentum);
            }
            runtime.afterStep?.(batches[i], stepContext, carry?.[tasks[i].name]);
          });
        },
        products(): MethodProducts {
          const products: Record<string, MethodProducts[string]> = {};
          runtimes.forEach((runtime, i) => Object.assign(products, prefixed(tasks[i].name, runtime.products?.())));
          return products;
        },
        dispose() {
          for (const runtime of runtimes) runtime.dispose?.();
        },
      };
    },
  });
}

export interface MultiTaskPluginOptions {
  /** The plugins whose methods (and view policies) the combinations may use, e.g. [pretext(), contrastive()]. */
  readonly plugins: readonly Plugin[];
}

/**
 * The plugin of `multi-task:hard-sharing` and `multi-task:soft-sharing`, resolving task names among `plugins`:
 *   createRegistry().use(pretext()).use(contrastive()).use(multiTask({ plugins: [pretext(), contrastive()] }))
 *   registry.create('multi-task:hard-sharing', { tasks: [{ method: 'pretext:rotation' }, { method: 'contrastive:simclr', weight: 0.5 }] })
 * A plugin is a plain object: call this once and register that object (registering it again is a no-op).
 */
export function multiTask(options: MultiTaskPluginOptions): Plugin {
  const registry = createRegistry();
  for (const plugin of options.plugins) if (plugin.family !== FAMILY) registry.use(plugin);
  return definePlugin({
    name: '@ssl/eval',
    version: packageJson.version,
    family: FAMILY,
    core: supportedCoreRange(packageJson),
    methods: {
      'hard-sharing': multiTaskDefinition<MultiTaskConfig>(registry, 'hard', { tasks: DEFAULT_TASKS }) as unknown as MethodDefinition,
      'soft-sharing': multiTaskDefinition<SoftSharingConfig>(registry, 'soft', {
        tasks: DEFAULT_TASKS,
        penalty: 1e-3,
      }) as unknown as MethodDefinition,
    },
  });
}
