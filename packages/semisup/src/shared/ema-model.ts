import { copyWeights, invalidConfig } from '@ssl/core';
import type { BuildContext, MethodRuntime } from '@ssl/core';
import { reportedClassifier } from './classifier-network';
import type { ClassifierNetwork, SemisupNetworks } from './classifier-network';
import { requireEmaDecay } from './validate';

/**
 * EMA decay at 0-based step `step`: the configured decay, ramped in when `warmup` (see FixMatchConfig.emaWarmup).
 * It lives here, not in FixMatch's file, because every EMA model of the package ramps this way.
 */
export function fixMatchEmaDecay(decay: number, step: number, warmup: boolean): number {
  return warmup ? Math.min(decay, (1 + step) / (10 + step)) : decay;
}

/**
 * The EMA model a method reports (FixMatch's `emaDecay`, `emaWarmup`; USB evaluates every algorithm and its
 * supervised baseline this way, ema_m 0.999). For the methods whose papers evaluate their student (pseudo-label,
 * entropy minimisation, Π-model, temporal ensembling, VAT and the round methods) it is off by default
 * (`STUDENT_EMA_DEFAULTS`); the benchmark recipes turn it on so they compare like with like with the
 * supervised-only control, which is scored by its EMA model.
 */
export interface EmaSettings {
  /**
   * Decay of the EMA of the student's weights (encoder and classifier), the model evaluated and saved
   * (FixMatch, USB: 0.999). At 0 (the default of the student-reporting methods, as their papers evaluate)
   * the student itself is evaluated and saved.
   */
  readonly emaDecay: number;
  /**
   * Ramp the EMA decay as min(emaDecay, (1 + t)/(10 + t)) at step t of the round (TensorFlow's
   * ExponentialMovingAverage with num_updates), so a short run's EMA model is not dominated by the random
   * initialisation. Default true.
   */
  readonly emaWarmup: boolean;
}

/**
 * Why 0 and not USB's 0.999: at CI scale the EMA copy narrowed the learning margins of temporal ensembling
 * (+3.5 → +1.6 points over its ablation) and VAT (+4.0 → +0.4), and Noisy Student's EMA model fell below its
 * ablation's (−1.9 points, mean of 3 seeds) while its student did not.
 */
export const STUDENT_EMA_DEFAULTS: EmaSettings = { emaDecay: 0, emaWarmup: true };

export function validateEma(config: EmaSettings): void {
  requireEmaDecay('emaDecay', config.emaDecay);
  if (typeof config.emaWarmup !== 'boolean') invalidConfig('emaWarmup', config.emaWarmup, 'true or false');
}

/** The runtime fields of a student reported through its EMA copy (`emaModelParts`) or itself. */
export type ReportedStudentParts = Pick<
  MethodRuntime<'semi-supervised'>,
  'encoder' | 'trainable' | 'frozen' | 'products' | 'classifier' | 'momentumPairs'
> & { readonly semisup: SemisupNetworks };

/**
 * `student` and an EMA copy of it as runtime fields: the copy (made by `sameShape`, then given the student's
 * weights) is updated after every optimizer step through the contract's momentumPairs with the decay of
 * `fixMatchEmaDecay`, ramped from the round's first step; it is checkpointed as frozen networks, evaluated, and
 * saved as the run's encoder and classifier product (the student as studentEncoder / studentClassifier).
 */
export function emaModelParts<Config extends EmaSettings>(
  context: BuildContext<Config>,
  student: ClassifierNetwork,
  sameShape: () => ClassifierNetwork,
): ReportedStudentParts {
  const { config } = context;
  const ema = sameShape();
  copyWeights(ema.encoder.model, student.encoder.model);
  copyWeights(ema.classifier, student.classifier);
  return {
    encoder: ema.encoder,
    trainable: { encoder: student.encoder.model, classifier: student.classifier },
    frozen: { emaEncoder: ema.encoder.model, emaClassifier: ema.classifier },
    semisup: { student, ema },
    products: () => ({ classifier: ema.classifier, studentEncoder: student.encoder, studentClassifier: student.classifier }),
    classifier: reportedClassifier(ema, 'EMA model'),
    momentumPairs: {
      pairs: [
        { target: ema.encoder.model, source: student.encoder.model },
        { target: ema.classifier, source: student.classifier },
      ],
      // The step within the round (the global step for a one-round method): a round's fresh EMA warms up again.
      momentum: ({ progress, totalSteps }) => fixMatchEmaDecay(config.emaDecay, Math.round(progress * totalSteps), config.emaWarmup),
    },
  };
}

/**
 * The runtime fields of a method that trains one student classifier: with `emaDecay` > 0 its EMA copy is the
 * reported model (`emaModelParts`), so every method compares with its supervised-only control like with like;
 * with `emaDecay` 0 the student itself is the evaluated encoder and the saved classifier.
 */
export function studentRuntimeParts<Config extends EmaSettings>(
  context: BuildContext<Config>,
  student: ClassifierNetwork,
  sameShape: () => ClassifierNetwork,
): ReportedStudentParts {
  if (context.config.emaDecay > 0) return emaModelParts(context, student, sameShape);
  return {
    encoder: student.encoder,
    trainable: { encoder: student.encoder.model, classifier: student.classifier },
    semisup: { student },
    products: () => ({ classifier: student.classifier }),
    classifier: reportedClassifier(student, 'student'),
  };
}
