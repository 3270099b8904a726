import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { SslError } from '../errors';
import type { Batch, StepContext } from '../method';
import type { Random } from '../random';
import { divergedError, globalNorm, nonFiniteNames } from './divergence-guard';
import { variableGrads } from './gradients';
import { emaUpdate } from './ema';
import { clipByGlobalNorm } from './optimizers';
import type { RoundNetworks } from './run-networks';
import { withSeededMathRandom } from './seeded';

/** What one step reports. */
export interface StepValues {
  readonly loss: number;
  readonly metrics: Record<string, number>;
  /** Global norm of the gradients before clipping, measured at the guard's checks only. */
  readonly gradientNorm?: number;
}

/** Every tensor inside a carry (objects, arrays and maps of tensors, nested). */
export function tensorsIn(value: unknown, into: Tensor[] = []): Tensor[] {
  if (value instanceof tf.Tensor) into.push(value);
  else if (Array.isArray(value)) for (const item of value) tensorsIn(item, into);
  else if (value instanceof Map) for (const item of value.values()) tensorsIn(item, into);
  else if (value !== null && typeof value === 'object') for (const item of Object.values(value)) tensorsIn(item, into);
  return into;
}

interface Forward {
  readonly loss: Scalar;
  readonly grads: Record<string, Tensor>;
  readonly metrics: Record<string, Scalar>;
  readonly carry: unknown;
}

/** The loss and its gradients; metrics and carry tensors are kept past the tape for the caller. */
function forwardAndBackward(networks: RoundNetworks, batch: Batch, context: StepContext, mathRng: Random): Forward {
  const metrics: Record<string, Scalar> = {};
  let carry: unknown;
  const { value, grads } = withSeededMathRandom(mathRng, () =>
    variableGrads(() => {
      const out = networks.runtime.step(batch, context);
      for (const [name, t] of Object.entries(out.metrics ?? {})) metrics[name] = tf.keep(t);
      carry = out.carry;
      for (const t of tensorsIn(carry)) tf.keep(t);
      return out.loss;
    }, networks.trainable),
  );
  return { loss: value, grads, metrics, carry };
}

function nonFiniteLoss(methodId: string, loss: number, context: StepContext): SslError {
  const { step, epoch, lr } = context;
  return new SslError(
    'non-finite-loss',
    `${methodId}: the loss became ${loss} at step ${step} (epoch ${epoch}, lr ${lr.toPrecision(3)}). ` +
      'Lower the learning rate, enable gradientClip, or check the input data for NaN/Inf.',
    { details: { step, epoch, lr, loss } },
  );
}

function applyGradients(networks: RoundNetworks, grads: Record<string, Tensor>, lr: number, gradientClip: number | undefined): void {
  let gradients: (Tensor | null)[] = networks.trainable.map((v) => grads[v.name] ?? null);
  let clipped: Tensor[] = [];
  if (gradientClip !== undefined) {
    clipped = clipByGlobalNorm(
      gradients.filter((g): g is Tensor => g !== null),
      gradientClip,
    ).clipped;
    let k = 0;
    gradients = gradients.map((g) => (g === null ? null : clipped[k++]));
  }
  networks.optimizer.apply(gradients, lr);
  tf.dispose(clipped);
}

function updateMomentumPairs(networks: RoundNetworks, context: StepContext): void {
  const declared = networks.runtime.momentumPairs;
  if (!declared) return;
  const momentum = declared.momentum(context);
  for (const { target, source } of declared.pairs) emaUpdate(target, source, momentum);
}

/**
 * One optimisation step: loss and gradients under the tape, the finite-loss guard, optional clipping, the
 * optimizer update, then the method's afterStep with what its step carried, outside the tape.
 */
export async function trainingStep(
  networks: RoundNetworks,
  batch: Batch,
  context: StepContext,
  options: { readonly methodId: string; readonly gradientClip?: number; readonly mathRng: Random; readonly checkGradients?: boolean },
): Promise<StepValues> {
  const forward = forwardAndBackward(networks, batch, context, options.mathRng);
  const carried = tensorsIn(forward.carry);
  try {
    const loss = (await forward.loss.data())[0];
    const metrics: Record<string, number> = {};
    for (const [name, t] of Object.entries(forward.metrics)) metrics[name] = t.dataSync()[0];
    if (!Number.isFinite(loss)) throw nonFiniteLoss(options.methodId, loss, context);
    let gradientNorm: number | undefined;
    if (options.checkGradients) {
      // Checked before they are applied, so a NaN gradient never reaches the parameters.
      const names = nonFiniteNames(forward.grads);
      if (names.length > 0) throw divergedError('gradients', names, context);
      gradientNorm = globalNorm(forward.grads);
    }
    applyGradients(networks, forward.grads, context.lr, options.gradientClip);
    updateMomentumPairs(networks, context);
    const afterStep = networks.runtime.afterStep;
    if (afterStep)
      withSeededMathRandom(options.mathRng, () => tf.tidy(() => afterStep.call(networks.runtime, batch, context, forward.carry)));
    return gradientNorm === undefined ? { loss, metrics } : { loss, metrics, gradientNorm };
  } finally {
    tf.dispose([forward.loss, ...Object.values(forward.grads), ...Object.values(forward.metrics), ...carried]);
  }
}
