import type { Variable } from '@tensorflow/tfjs-core';
import type { LayerVariable, LayersModel } from '@tensorflow/tfjs-layers';
import { SslError } from '../errors';
import type { BuildContext, MethodDataKind, MethodRuntime } from '../method';
import type { Encoder } from '../nn/encoder';
import { copyWeights } from './ema';
import type { InitialEncoder, RunPlan } from './plan';
import { buildEncoder } from './plan';
import { withEncoderOptions } from '../nn/spec';
import type { EncoderSpec } from '../nn/spec';
import type { PoolView } from './pools';
import { createOptimizer } from './optimizers';
import type { Optimizer } from './optimizers';
import { streamRandom, withSeededMathRandom } from './seeded';

/** Streams of randomness derived from (seed, stream, step), so a resumed step draws what the original did. */
export const STREAM_BUILD = 1;
export const STREAM_VIEWS = 2;
export const STREAM_METHOD = 3;
export const STREAM_ROUND_END = 5;

/** One round's networks with the optimizer that trains them and every variable a checkpoint saves. */
export interface RoundNetworks {
  readonly round: number;
  readonly runtime: MethodRuntime;
  readonly trainable: Variable[];
  readonly optimizer: Optimizer;
  /** Every variable of the round (networks, optimizer slots, method state), keyed as in checkpoints. */
  readonly variables: Map<string, Variable>;
}

type Layer = LayersModel['layers'][number];

/** Keras' to_snake_case: 'Conv2D' → 'conv2d', 'BatchNormalization' → 'batch_normalization'. */
function snakeCase(className: string): string {
  return className
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/** Layers of a network depth first, nested models flattened into their layers. */
function leafLayers(model: LayersModel): Layer[] {
  return model.layers.flatMap((layer) =>
    'layers' in layer && Array.isArray((layer as LayersModel).layers) ? leafLayers(layer as LayersModel) : [layer],
  );
}

/** A weight's name within its layer ('kernel', 'attention/qkv/kernel'), without the layer and model scopes. */
function weightName(layer: Layer, weight: LayerVariable): string {
  const scope = `${layer.name}/`;
  const at = weight.originalName.lastIndexOf(scope);
  return at >= 0 ? weight.originalName.slice(at + scope.length) : (weight.originalName.split('/').pop() ?? weight.originalName);
}

/**
 * Every weight of every network under a name that is the same in every process and every build:
 * `<prefix>/<network>/<layer class>_<n>/<weight>`, e.g. `trainable/encoder/conv2d_1/kernel`, where n counts
 * the layers of that class in the network (nested models flattened, depth first). tfjs's own layer and
 * variable names carry process-global counters (a second build is `conv2d_Conv2D7`), so they are not used.
 */
export function networkVariables(
  prefix: string,
  networks: Readonly<Record<string, LayersModel>> | undefined,
  into: Map<string, Variable>,
): void {
  const stored = new Set(into.values());
  for (const [name, model] of Object.entries(networks ?? {})) {
    const classCounts = new Map<string, number>();
    const named = new Map<Variable, string>();
    for (const layer of leafLayers(model)) {
      const className = snakeCase(layer.getClassName());
      const index = classCounts.get(className) ?? 0;
      classCounts.set(className, index + 1);
      const used = new Set<string>();
      for (const weight of layer.weights) {
        let key = `${prefix}/${name}/${className}_${index}/${weightName(layer, weight)}`;
        for (let k = 1; used.has(key); k++) key = `${prefix}/${name}/${className}_${index}/${weightName(layer, weight)}_${k}`;
        used.add(key);
        const variable = weight.read() as Variable;
        if (!named.has(variable)) named.set(variable, key);
      }
    }
    model.weights.forEach((w, i) => {
      const variable = w.read() as Variable;
      // Networks may share layers (an encoder inside a classifier): store each variable once.
      if (stored.has(variable)) return;
      stored.add(variable);
      into.set(named.get(variable) ?? `${prefix}/${name}/weight_${i}`, variable);
    });
  }
}

/**
 * Names of the optimizer's slots after the variables they belong to: `optimizer/step`, then
 * `optimizer/<variable key>/<slot>` (see Optimizer.slots for the order).
 */
function optimizerSlotNames(
  optimizer: Optimizer,
  trainable: readonly Variable[],
  variables: ReadonlyMap<string, Variable>,
): Map<string, Variable> {
  const keyOf = new Map<Variable, string>();
  for (const [key, v] of variables) keyOf.set(v, key.replace(/^trainable\//, ''));
  const slots = optimizer.slots();
  const perVariable = (slots.length - 1) / trainable.length;
  const slotNames = optimizer.spec.kind === 'adam' || optimizer.spec.kind === 'adamw' ? ['m', 'v'] : ['momentum'];
  const named = new Map<string, Variable>();
  if (perVariable !== slotNames.length) {
    slots.forEach((v, i) => named.set(`optimizer/${i}`, v));
    return named;
  }
  named.set('optimizer/step', slots[0]);
  slotNames.forEach((slotName, s) =>
    trainable.forEach((v, i) => named.set(`optimizer/${keyOf.get(v) ?? `variable_${i}`}/${slotName}`, slots[1 + s * trainable.length + i])),
  );
  return named;
}

/** Trainable variables of the networks, each once, with the learning-rate scale of the first network that holds it. */
function trainableVariables(runtime: MethodRuntime): { variables: Variable[]; scales: number[] } {
  const scaleOf = new Map<Variable, number>();
  for (const [name, model] of Object.entries(runtime.trainable)) {
    const scale = runtime.learningRateScales?.[name] ?? 1;
    if (!(Number.isFinite(scale) && scale >= 0))
      throw new SslError('invalid-config', `learningRateScales.${name} must be a finite number >= 0, got ${scale}.`);
    for (const w of model.trainableWeights) if (!scaleOf.has(w.read() as Variable)) scaleOf.set(w.read() as Variable, scale);
  }
  return { variables: [...scaleOf.keys()], scales: [...scaleOf.values()] };
}

/**
 * Copies the initial encoder's weights (batch-norm statistics included) into a newly built encoder. The seed
 * was drawn for it all the same, so the heads built after it are those of a run without a start.
 */
function startFrom(encoder: Encoder, initial: InitialEncoder): void {
  const target = encoder.model.weights;
  const source = initial.encoder.model.weights;
  const shapes = (weights: typeof target) => weights.map((w) => `[${w.shape.join(', ')}]`).join(' ');
  if (target.length !== source.length || target.some((w, i) => w.shape.join() !== source[i].shape.join())) {
    throw new SslError(
      'shape-mismatch',
      `initialEncoder (${initial.from}) does not fit the run's encoder: its weights are ${shapes(source)}, the run's ${shapes(target)}; ` +
        'train with the encoder spec the start was trained with.',
      { details: { field: 'initialEncoder' } },
    );
  }
  copyWeights(encoder.model, initial.encoder.model);
}

/**
 * Builds round `round` of the method with seeded initialisation: the previous round's runtime is its
 * teacher, and the optimizer starts afresh (each round restarts its optimizer and schedule).
 */
export function buildRound(plan: RunPlan, round: number, pools: PoolView, previous: MethodRuntime | undefined): RoundNetworks {
  const buildRng = streamRandom(plan.seed, STREAM_BUILD, round);
  const source = plan.source;
  const context: BuildContext<object, MethodDataKind> = {
    config: plan.method.config,
    inputShape: source.inputShape,
    numClasses: source.numClasses,
    captions: source.captions,
    rng: buildRng,
    sampleCount: source.sampleCount,
    round,
    previous,
    pools,
    // Each encoder gets its own seed from the build stream: a teacher built second differs from the student
    // until the method copies weights, exactly as in a fresh process.
    createEncoder: (changes) => {
      const spec = plan.encoder;
      if (!spec) {
        throw new SslError(
          'data',
          `${plan.method.id} builds an image encoder, but ${source.name} has no images to size it from: pass \`encoder\` (an encoder spec) to train().`,
          { details: { field: 'encoder' } },
        );
      }
      if (changes && Object.keys(changes.options).length > 0) {
        // withEncoderOptions knows core's families only: a plugin encoder's spec takes no option, refused by name.
        const options = changes.options as Readonly<Record<string, unknown>>;
        const changed = withEncoderOptions(spec as EncoderSpec, options, changes.field);
        return buildEncoder(plan.method, { ...changed, seed: changed.seed ?? buildRng.seed() });
      }
      const encoder = buildEncoder(plan.method, { ...spec, seed: spec.seed ?? buildRng.seed() });
      if (plan.initialEncoder) startFrom(encoder, plan.initialEncoder);
      return encoder;
    },
  };
  const runtime = withSeededMathRandom(buildRng, () => plan.definition.build(context)) as MethodRuntime;
  const { variables: trainable, scales } = trainableVariables(runtime);
  if (trainable.length === 0) throw new SslError('invalid-config', `${plan.method.id} built no trainable weights.`);
  const optimizer = createOptimizer(plan.optimizer, trainable, runtime.learningRateScales ? scales : undefined);
  const variables = new Map<string, Variable>();
  networkVariables('trainable', runtime.trainable, variables);
  networkVariables('frozen', runtime.frozen, variables);
  for (const [name, v] of Object.entries(runtime.state ?? {})) variables.set(`state/${name}`, v);
  for (const [key, v] of optimizerSlotNames(optimizer, trainable, variables)) variables.set(key, v);
  return { round, runtime, trainable, optimizer, variables };
}

/** Frees the optimizer slots and the method's state and extras, leaving its networks to whoever owns them. */
export function disposeTrainingState(networks: RoundNetworks): void {
  networks.optimizer.dispose();
  networks.runtime.dispose?.();
  for (const v of Object.values(networks.runtime.state ?? {})) if (!v.isDisposed) v.dispose();
}

function networksOf(runtime: MethodRuntime): LayersModel[] {
  return [...Object.values(runtime.trainable), ...Object.values(runtime.frozen ?? {})];
}

/**
 * Frees a round's networks, optimizer slots and state, except what `keep` (the next round's runtime)
 * still holds: a previous student that became the teacher lives on.
 */
export function disposeRound(networks: RoundNetworks, keep?: MethodRuntime): void {
  const kept = new Set<unknown>(keep ? [...networksOf(keep), ...Object.values(keep.state ?? {})] : []);
  const keptVariables = new Set<Variable>();
  for (const model of kept)
    if (model && typeof model === 'object' && 'weights' in model)
      for (const w of (model as LayersModel).weights) keptVariables.add(w.read() as Variable);
  networks.optimizer.dispose();
  networks.runtime.dispose?.();
  for (const model of networksOf(networks.runtime)) {
    if (kept.has(model) || model.weights.some((w) => keptVariables.has(w.read() as Variable))) continue;
    try {
      model.dispose();
    } catch {
      // Models sharing layers: the second dispose of a shared layer throws; the weights are gone already.
    }
  }
  for (const v of Object.values(networks.runtime.state ?? {})) if (!kept.has(v) && !v.isDisposed) v.dispose();
}
