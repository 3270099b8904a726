import { Random } from '../random';

/**
 * tfjs-layers initializers and dropout draw their seeds from Math.random when none is given. Running model
 * construction and each step with Math.random temporarily bound to a seeded stream makes a run a pure
 * function of its seed (same seed + same backend → same loss curve) without threading seeds through
 * every layer.
 */
export function withSeededMathRandom<T>(rng: Random, fn: () => T): T {
  const original = Math.random;
  Math.random = () => rng.next();
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}

/** A generator for (seed, stream, step): resumed runs recreate exactly the stream of any step. */
export function streamRandom(seed: number, stream: number, step: number): Random {
  // Mix the three integers through two rounds of a 32-bit hash so nearby steps get unrelated streams.
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (stream + 0x632be59b), 0xc2b2ae35) >>> 0;
  h = Math.imul(h ^ (step >>> 0), 0x27d4eb2f) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x165667b1) >>> 0;
  return new Random(h ^ (h >>> 13));
}
