import type { Random } from '@ssl/core';

/**
 * log of a Gamma(shape, 1) draw: Marsaglia & Tsang (2000) for shape ≥ 1; for shape < 1, Gamma(shape + 1) ·
 * U^{1/shape}, kept in logs because U^{1/shape} underflows to 0 for small shapes (α = 0.001 gives 0/0 in
 * the Beta ratio otherwise). Seeded by the run's generator, so a resumed run draws the same values.
 */
function logGamma(rng: Random, shape: number): number {
  if (shape < 1) return logGamma(rng, shape + 1) + Math.log(1 - rng.next()) / shape;
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    const v = Math.pow(1 + c * x, 3);
    if (v <= 0) continue;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return Math.log(d * v);
  }
}

/** Beta(α, β) = X / (X + Y) = 1 / (1 + Y/X) with X ~ Gamma(α), Y ~ Gamma(β): MixUp's mixing coefficient (α = β). */
export function sampleBeta(rng: Random, alpha: number, beta = alpha): number {
  const logX = logGamma(rng, alpha);
  const logY = logGamma(rng, beta);
  return 1 / (1 + Math.exp(logY - logX));
}
