import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import { SslError, invalidConfig } from '../errors';
import type { OptimizerSpec } from '../method';

/**
 * Optimizers with their slots created up front, so a checkpoint can save and restore every slot exactly
 * (tfjs's own optimizers create slots lazily and name them by global counters).
 *
 * Weight decay (and LARS trust-ratio adaptation) skip 1-D parameters — biases and normalization scales —
 * as SimCLR, BYOL and DINO do; decaying a batch-norm gain towards zero only fights the normalization.
 */
export interface Optimizer {
  readonly spec: Required<OptimizerSpec>;
  /**
   * One update of `variables` (the ones given at creation, same order) with their gradients. A null
   * gradient (the variable did not affect the loss this step) leaves that variable and its slots untouched.
   */
  apply(gradients: readonly (Tensor | null)[], lr: number): void;
  /**
   * Every slot variable in a stable order, for checkpoints: the step counter, then one first-moment (momentum)
   * slot per variable, then, for Adam and AdamW, one second-moment slot per variable.
   */
  slots(): Variable[];
  dispose(): void;
}

export function resolveOptimizerSpec(spec: OptimizerSpec): Required<OptimizerSpec> {
  if (!(spec.lr > 0) || !Number.isFinite(spec.lr)) invalidConfig('optimizer.lr', spec.lr, 'a positive finite number');
  const wd = spec.weightDecay ?? 0;
  if (!(wd >= 0) || !Number.isFinite(wd)) invalidConfig('optimizer.weightDecay', wd, 'a non-negative number');
  switch (spec.kind) {
    case 'sgd': {
      const momentum = spec.momentum ?? 0.9;
      if (!(momentum >= 0 && momentum < 1)) invalidConfig('optimizer.momentum', momentum, 'a number in [0, 1)');
      return { kind: 'sgd', lr: spec.lr, momentum, nesterov: spec.nesterov ?? false, weightDecay: wd };
    }
    case 'adam':
    case 'adamw': {
      const beta1 = spec.beta1 ?? 0.9;
      const beta2 = spec.beta2 ?? 0.999;
      const epsilon = spec.epsilon ?? 1e-8;
      if (!(beta1 >= 0 && beta1 < 1)) invalidConfig('optimizer.beta1', beta1, 'a number in [0, 1)');
      if (!(beta2 >= 0 && beta2 < 1)) invalidConfig('optimizer.beta2', beta2, 'a number in [0, 1)');
      if (!(epsilon > 0)) invalidConfig('optimizer.epsilon', epsilon, 'a positive number');
      return { kind: spec.kind, lr: spec.lr, beta1, beta2, epsilon, weightDecay: wd } as Required<OptimizerSpec>;
    }
    case 'lars': {
      const momentum = spec.momentum ?? 0.9;
      const trustCoefficient = spec.trustCoefficient ?? 0.001;
      if (!(momentum >= 0 && momentum < 1)) invalidConfig('optimizer.momentum', momentum, 'a number in [0, 1)');
      if (!(trustCoefficient > 0)) invalidConfig('optimizer.trustCoefficient', trustCoefficient, 'a positive number');
      return { kind: 'lars', lr: spec.lr, momentum, weightDecay: wd, trustCoefficient };
    }
    default:
      return invalidConfig('optimizer.kind', (spec as { kind: unknown }).kind, "one of 'sgd', 'adam', 'adamw', 'lars'");
  }
}

function isExcludedFromDecay(variable: Variable): boolean {
  return variable.shape.length <= 1;
}

/** One variable's update inputs: its weight, gradient, slots, learning rate and weight decay (0 where excluded). */
interface UpdateInput {
  readonly w: Variable;
  readonly g: Tensor;
  readonly first: Variable;
  readonly second?: Variable;
  readonly lr: number;
  readonly decay: number;
  /** The step count after this update, for Adam's bias correction. */
  readonly t: tf.Scalar;
}

/** PyTorch SGD semantics: decay added to the gradient, buf = m·buf + g, nesterov uses g + m·buf. */
function sgdUpdate(spec: Extract<Required<OptimizerSpec>, { kind: 'sgd' }>, { w, g, first, lr, decay }: UpdateInput): void {
  const grad = decay > 0 ? tf.add(g, tf.mul(w, decay)) : g;
  const buf = tf.add(tf.mul(first, spec.momentum), grad);
  first.assign(buf);
  const update = spec.nesterov ? tf.add(grad, tf.mul(buf, spec.momentum)) : buf;
  w.assign(tf.sub(w, tf.mul(update, lr)));
}

/**
 * Adam (Kingma & Ba, Alg. 1). 'adam' adds L2 to the gradient; 'adamw' decays the weights directly,
 * decoupled from the adaptive step (Loshchilov & Hutter 2019).
 */
function adamUpdate(
  spec: Extract<Required<OptimizerSpec>, { kind: 'adam' | 'adamw' }>,
  { w, g, first, second, lr, decay, t }: UpdateInput,
): void {
  const grad = spec.kind === 'adam' && decay > 0 ? tf.add(g, tf.mul(w, decay)) : g;
  const m = tf.add(tf.mul(first, spec.beta1), tf.mul(grad, 1 - spec.beta1));
  const v = tf.add(tf.mul(second as Variable, spec.beta2), tf.mul(tf.square(grad), 1 - spec.beta2));
  first.assign(m);
  (second as Variable).assign(v);
  const mHat = tf.div(m, tf.sub(1, tf.pow(tf.scalar(spec.beta1), t)));
  const vHat = tf.div(v, tf.sub(1, tf.pow(tf.scalar(spec.beta2), t)));
  let next = tf.sub(w, tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), spec.epsilon)), lr));
  if (spec.kind === 'adamw' && decay > 0) next = tf.sub(next, tf.mul(w, lr * decay));
  w.assign(next);
}

/**
 * LARS (You et al. 2017) as used by SimCLR/BYOL: trust ratio η·‖w‖/‖g + λw‖ per tensor, skipped (ratio 1,
 * no decay) for biases and normalization parameters.
 */
function larsUpdate(
  spec: Extract<Required<OptimizerSpec>, { kind: 'lars' }>,
  { w, g, first, lr, decay }: UpdateInput,
  adapt: boolean,
): void {
  let update: Tensor = g;
  if (adapt) {
    const grad = decay > 0 ? tf.add(g, tf.mul(w, decay)) : g;
    const wNorm = tf.norm(w);
    const gNorm = tf.norm(grad);
    const ratio = tf.where(
      tf.logicalAnd(tf.greater(wNorm, 0), tf.greater(gNorm, 0)),
      tf.mul(tf.div(wNorm, gNorm), spec.trustCoefficient),
      tf.onesLike(wNorm),
    );
    update = tf.mul(grad, ratio);
  }
  const buf = tf.add(tf.mul(first, spec.momentum), update);
  first.assign(buf);
  w.assign(tf.sub(w, tf.mul(buf, lr)));
}

function updateVariable(spec: Required<OptimizerSpec>, input: UpdateInput, decayable: boolean): void {
  switch (spec.kind) {
    case 'sgd':
      return sgdUpdate(spec, input);
    case 'adam':
    case 'adamw':
      return adamUpdate(spec, input);
    case 'lars':
      return larsUpdate(spec, input, decayable);
  }
}

/**
 * `learningRateScales` (one per variable, default all 1) multiply the step's learning rate per variable:
 * a fine-tuned backbone at a tenth of its new head's rate, layer-wise learning-rate decay.
 */
export function createOptimizer(
  specInput: OptimizerSpec,
  variables: readonly Variable[],
  learningRateScales?: readonly number[],
): Optimizer {
  const spec = resolveOptimizerSpec(specInput);
  if (learningRateScales && learningRateScales.length !== variables.length) {
    throw new SslError(
      'shape-mismatch',
      `Optimizer got ${learningRateScales.length} learning-rate scales for ${variables.length} variables.`,
    );
  }
  // tf.variable keeps its own reference to the data: tidy frees the initial tensor, or dispose() would leave it behind.
  const zerosLike = (v: Variable) => tf.tidy(() => tf.variable(tf.zeros(v.shape, 'float32'), false));
  const firstSlots = variables.map((v) => zerosLike(v));
  const secondSlots = spec.kind === 'adam' || spec.kind === 'adamw' ? variables.map((v) => zerosLike(v)) : [];
  const stepCount = tf.tidy(() => tf.variable(tf.scalar(0, 'float32'), false));
  const decayMask = variables.map((v) => !isExcludedFromDecay(v));

  const apply = (gradients: readonly (Tensor | null)[], baseLr: number): void => {
    if (gradients.length !== variables.length) {
      throw new SslError('shape-mismatch', `Optimizer got ${gradients.length} gradients for ${variables.length} variables.`);
    }
    tf.tidy(() => {
      const t = tf.add(stepCount, 1) as tf.Scalar;
      stepCount.assign(t);
      variables.forEach((w, i) => {
        const g = gradients[i];
        if (g === null) return;
        const lr = learningRateScales ? baseLr * learningRateScales[i] : baseLr;
        const decay = decayMask[i] ? spec.weightDecay : 0;
        updateVariable(spec, { w, g, first: firstSlots[i], second: secondSlots[i], lr, decay, t }, decayMask[i]);
      });
    });
  };

  return {
    spec,
    apply,
    slots: () => [stepCount, ...firstSlots, ...secondSlots],
    dispose: () => {
      for (const v of [stepCount, ...firstSlots, ...secondSlots]) v.dispose();
    },
  };
}

/** Scales gradients so their global L2 norm is at most maxNorm (Pascanu et al. 2013). Returns new tensors. */
export function clipByGlobalNorm(gradients: readonly Tensor[], maxNorm: number): { clipped: Tensor[]; norm: number } {
  if (!(maxNorm > 0)) invalidConfig('gradientClip', maxNorm, 'a positive number');
  const normTensor = tf.tidy(() => tf.sqrt(tf.addN(gradients.map((g) => tf.sum(tf.square(g))))));
  const norm = normTensor.dataSync()[0];
  normTensor.dispose();
  const scale = norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
  return { clipped: gradients.map((g) => (scale === 1 ? tf.clone(g) : tf.mul(g, scale))), norm };
}
