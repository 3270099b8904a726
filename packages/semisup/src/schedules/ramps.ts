/*
 * Weights of an unlabeled loss over training, as functions of the round's progress in [0, 1) (StepContext
 * `progress`), so a short run ramps the same way a long one does.
 */

/**
 * The Gaussian ramp-up of the Π-model, temporal ensembling (Laine & Aila 2017, sec. 3.1 and appendix A) and
 * Mean Teacher: exp(−5 (1 − T)²) with T = min(1, progress / rampLength); 1 from `rampLength` on (and
 * throughout when rampLength is 0). Laine & Aila ramp over the first 80 of 300 epochs (≈ 0.27).
 */
export function sigmoidRampUp(progress: number, rampLength: number): number {
  if (!(rampLength > 0)) return 1;
  const t = Math.min(1, Math.max(0, progress / rampLength));
  return Math.exp(-5 * (1 - t) * (1 - t));
}

export interface PseudoLabelRamp {
  /** α_f, the final weight (Lee 2013: 3). */
  readonly finalWeight: number;
  /** T1 as a fraction of the run: α is 0 before it. */
  readonly rampStart: number;
  /** T2 as a fraction of the run: α is α_f from it on. */
  readonly rampEnd: number;
}

/**
 * Lee 2013 eq. 16: α(t) = 0 for t < T1, α_f (t − T1)/(T2 − T1) for T1 ≤ t < T2, α_f for t ≥ T2. Lee counts
 * t in epochs with T1 = 100, T2 = 600; here t is the run's progress and T1, T2 are fractions of it (0.1 and
 * 0.6 put them at steps 100 and 600 of a 1 000-step run).
 */
export function pseudoLabelWeight(progress: number, ramp: PseudoLabelRamp): number {
  const { finalWeight, rampStart, rampEnd } = ramp;
  if (progress < rampStart) return 0;
  if (progress >= rampEnd) return finalWeight;
  return (finalWeight * (progress - rampStart)) / (rampEnd - rampStart);
}

/**
 * A linear ramp-up min(1, progress / rampLength), 1 throughout when rampLength is 0: MixMatch ramps λ_U
 * linearly over its first 16 000 steps (Berthelot et al. 2019, sec. 4), about 1.5% of its 2^20-step runs.
 */
export function linearRampUp(progress: number, rampLength: number): number {
  if (!(rampLength > 0)) return 1;
  return Math.min(1, Math.max(0, progress / rampLength));
}
