import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-core';
import { SslError, invalidConfig } from '../errors';
import type { Encoder } from '../nn';

/**
 * What the trainer watches for besides a non-finite loss. A loss can stay finite while the weights are not:
 * NT-Xent of all-NaN-free but all-equal similarities is log(2N − 1), whatever the weights became.
 */
export interface DivergenceGuardOptions {
  /** Check parameters and gradients for NaN/Inf every this many steps (and before every checkpoint); default 10. */
  readonly everySteps?: number;
  /** Check the encoder's outputs for collapse every this many steps (and at epoch ends); default 50. */
  readonly collapseEverySteps?: number;
  /** Collapsed: the mean per-dimension std of the L2-normalised outputs on fixed images is below this; default 1e-4. */
  readonly collapseStd?: number;
  /** Consecutive collapsed checks that stop the run (a sustained collapse, not a passing phase); default 3. */
  readonly collapsePatience?: number;
  /** Fixed images of the training data the collapse check embeds; default 64. */
  readonly probeImages?: number;
}

export interface ResolvedGuard {
  readonly everySteps: number;
  readonly collapseEverySteps: number;
  readonly collapseStd: number;
  readonly collapsePatience: number;
  readonly probeImages: number;
}

export function resolveGuard(options: DivergenceGuardOptions | false | undefined): ResolvedGuard | undefined {
  if (options === false) return undefined;
  const guard = {
    everySteps: options?.everySteps ?? 10,
    collapseEverySteps: options?.collapseEverySteps ?? 50,
    collapseStd: options?.collapseStd ?? 1e-4,
    collapsePatience: options?.collapsePatience ?? 3,
    probeImages: options?.probeImages ?? 64,
  };
  for (const field of ['everySteps', 'collapseEverySteps', 'collapsePatience', 'probeImages'] as const) {
    if (!(Number.isInteger(guard[field]) && guard[field] > 0)) invalidConfig(`guard.${field}`, guard[field], 'a positive integer');
  }
  if (!(guard.collapseStd >= 0)) invalidConfig('guard.collapseStd', guard.collapseStd, 'a number ≥ 0');
  return guard;
}

/**
 * Names of the float tensors holding a NaN or an Inf, found with one fused reduction and one read:
 * x·0 is 0 for every finite x and NaN for NaN and ±Inf, so each tensor reduces to 0 or NaN.
 */
export function nonFiniteNames(tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>): string[] {
  const entries = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).filter(([, t]) => t.dtype === 'float32');
  if (entries.length === 0) return [];
  const flags = tf.tidy(() => tf.stack(entries.map(([, t]) => tf.sum(tf.mul(t, 0)))));
  const values = flags.dataSync();
  flags.dispose();
  return entries.filter((_, i) => !Number.isFinite(values[i])).map(([name]) => name);
}

/**
 * The global L2 norm of a set of gradients, √Σ‖g‖², in one fused reduction and one read (NaN when any
 * gradient holds a NaN or an Inf).
 */
export function globalNorm(tensors: Readonly<Record<string, Tensor>>): number {
  const floats = Object.values(tensors).filter((t) => t.dtype === 'float32');
  if (floats.length === 0) return 0;
  const squared = tf.tidy(() => tf.addN(floats.map((t) => tf.sum(tf.square(t)))));
  const value = squared.dataSync()[0];
  squared.dispose();
  return Math.sqrt(value);
}

/** Checked gradient norms needed before a spike can be judged against their median. */
const NORMS_BEFORE_JUDGING = 3;

/**
 * Watches the gradient norm at the guard's checks for an explosion that stays finite: a norm `factor` times
 * the median of the earlier checks (default 1000×) is reported once, as a warning naming the step and the
 * figures. A finite explosion is not yet a divergence (a loss spike can recover), so it warns rather than stops;
 * the non-finite checks stop the run if it goes on. Each round of a multi-round run is judged on its own
 * norms: a new round trains other networks (BEiT's ViT after its tokenizer), whose gradients differ in scale.
 */
export class GradientNormWatch {
  private norms: number[] = [];
  private round = 0;
  private warned = false;

  constructor(
    private readonly warn: (message: string) => void,
    private readonly factor = 1000,
  ) {}

  record(norm: number, context: { step: number; lr: number; round?: number }): void {
    if (!Number.isFinite(norm)) return;
    if ((context.round ?? 0) !== this.round) {
      this.round = context.round ?? 0;
      this.norms = [];
    }
    if (!this.warned && this.norms.length >= NORMS_BEFORE_JUDGING) {
      const median = [...this.norms].sort((a, b) => a - b)[Math.floor(this.norms.length / 2)];
      if (norm > this.factor * median) {
        this.warned = true;
        this.warn(
          `the gradient norm exploded at step ${context.step} (lr ${context.lr.toPrecision(3)}): ${norm.toExponential(2)}, ` +
            `${Math.round(norm / median)}× its median so far (${median.toExponential(2)}); the run is likely diverging: ` +
            'lower the learning rate or set gradientClip.',
        );
      }
    }
    this.norms.push(norm);
  }
}

export function divergedError(
  what: 'parameters' | 'gradients' | 'encoder outputs',
  names: readonly string[],
  context: { step: number; lr?: number },
): SslError {
  const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? ` and ${names.length - 3} more` : '');
  const lr = context.lr === undefined ? '' : `, lr ${context.lr.toPrecision(3)}`;
  const problem = `Training diverged at step ${context.step}${lr}: the ${what} are no longer finite (${shown}).`;
  return new SslError(
    'diverged',
    `${problem} No checkpoint or encoder holding them was saved; start a new run with a lower learning rate or gradientClip.`,
    { details: { step: context.step, what, names: [...names], problem } },
  );
}

export interface CollapseProbe {
  /** Mean over dimensions of the std across the probe images of the L2-normalised outputs. */
  readonly meanStd: number;
  readonly finite: boolean;
}

/** Embeds the probe images in inference mode and measures how much the normalised outputs vary. */
export function probeCollapse(encoder: Encoder, images: Tensor4D): CollapseProbe {
  const result = tf.tidy(() => {
    const features = encoder.features(images);
    const normalised = tf.div(features, tf.maximum(tf.norm(features, 'euclidean', 1, true), 1e-12));
    const { variance } = tf.moments(normalised, 0);
    return tf.stack([tf.mean(tf.sqrt(variance)), tf.sum(tf.mul(features, 0))]);
  });
  const [meanStd, finiteFlag] = result.dataSync();
  result.dispose();
  return { meanStd, finite: Number.isFinite(meanStd) && Number.isFinite(finiteFlag) };
}

/** Counts consecutive collapsed checks and throws `collapsed` when they last `collapsePatience` checks. */
export class CollapseWatch {
  private collapsedChecks = 0;
  private firstCollapsedStep = 0;

  constructor(private readonly guard: ResolvedGuard) {}

  record(probe: CollapseProbe, step: number): void {
    if (!probe.finite) throw divergedError('encoder outputs', ['encoder features of the probe images'], { step });
    if (probe.meanStd >= this.guard.collapseStd) {
      this.collapsedChecks = 0;
      return;
    }
    if (this.collapsedChecks === 0) this.firstCollapsedStep = step;
    this.collapsedChecks += 1;
    if (this.collapsedChecks >= this.guard.collapsePatience) {
      const problem =
        `The representation collapsed: from step ${this.firstCollapsedStep} to step ${step} the encoder gave (nearly) the same output for every image ` +
        `(mean per-dimension std of normalised outputs ${probe.meanStd.toExponential(2)} < ${this.guard.collapseStd}).`;
      throw new SslError(
        'collapsed',
        `${problem} No encoder was saved; start a new run with a lower learning rate, or check the method config.`,
        {
          details: { step, firstCollapsedStep: this.firstCollapsedStep, meanStd: probe.meanStd, problem },
        },
      );
    }
  }
}
