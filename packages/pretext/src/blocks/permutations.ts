import { Random, invalidConfig } from '@ssl/core';

/**
 * Permutation sets for the jigsaw task (Noroozi & Favaro 2016, sec. 3.3): the network classifies which of P
 * fixed permutations shuffled the tiles, and the set is chosen so that its permutations lie far apart in
 * Hamming distance (the number of positions at which two permutations differ); with close permutations the
 * task becomes ambiguous, with far ones it is learnable and the features transfer better (their table 3).
 */
export interface PermutationSet {
  /** P permutations of 0..tiles−1: entry k of a permutation is the grid position of the tile shown in slot k. */
  readonly permutations: number[][];
  /** The smallest Hamming distance between two permutations of the set. */
  readonly minDistance: number;
  /** The mean Hamming distance over all pairs. */
  readonly meanDistance: number;
}

export interface PermutationSetOptions {
  /** Number of permutations P (the paper: 100 or 1000). */
  readonly size: number;
  /** Number of tiles (9 for a 3×3 grid); at most 9, since all tiles! candidates are searched. */
  readonly tiles?: number;
  /** Seed of the first permutation; the rest follow deterministically. */
  readonly seed: number;
  /** Throws unless the set reaches this minimum Hamming distance (default: no requirement). */
  readonly minDistance?: number;
}

/** Hamming distance of two permutations of the same length. */
export function hammingDistance(a: readonly number[], b: readonly number[]): number {
  let distance = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) distance++;
  return distance;
}

/** Every permutation of 0..n−1 in lexicographic order, packed into one array of n! × n bytes. */
function allPermutations(n: number): Uint8Array {
  let count = 1;
  for (let i = 2; i <= n; i++) count *= i;
  const out = new Uint8Array(count * n);
  const current = Array.from({ length: n }, (_, i) => i);
  for (let p = 0; p < count; p++) {
    out.set(current, p * n);
    // Next lexicographic permutation (Narayana Pandita's algorithm).
    let i = n - 2;
    while (i >= 0 && current[i] > current[i + 1]) i--;
    if (i < 0) break;
    let j = n - 1;
    while (current[j] < current[i]) j--;
    [current[i], current[j]] = [current[j], current[i]];
    for (let left = i + 1, right = n - 1; left < right; left++, right--) [current[left], current[right]] = [current[right], current[left]];
  }
  return out;
}

const cache = new Map<string, PermutationSet>();

/**
 * A set of `size` permutations chosen greedily by maximal Hamming distance: a first permutation drawn from
 * `seed`, then repeatedly the candidate (among all tiles! permutations) whose smallest distance to the chosen
 * ones is largest, ties broken by the largest mean distance (the criterion of the authors'
 * select_permutations.py) and then by the lexicographically first. Deterministic given the seed; the same
 * options return the same (cached) set. On a 2-core machine 100 permutations of 9 tiles take ~1.5 s, 1000 take ~20 s.
 */
export function hammingPermutationSet(options: PermutationSetOptions): PermutationSet {
  const tiles = options.tiles ?? 9;
  if (!(Number.isInteger(tiles) && tiles >= 2 && tiles <= 9)) invalidConfig('tiles', tiles, 'an integer in 2..9');
  let total = 1;
  for (let i = 2; i <= tiles; i++) total *= i;
  if (!(Number.isInteger(options.size) && options.size >= 2 && options.size <= total))
    invalidConfig('permutations', options.size, `an integer in 2..${total} (${tiles}! permutations exist)`);
  if (!Number.isFinite(options.seed)) invalidConfig('permutationSeed', options.seed, 'a finite number');
  const key = `${options.size}/${tiles}/${options.seed}`;
  let set = cache.get(key);
  if (!set) {
    set = greedySet(options.size, tiles, total, options.seed);
    cache.set(key, set);
  }
  if (options.minDistance !== undefined && set.minDistance < options.minDistance) {
    invalidConfig(
      'minHammingDistance',
      options.minDistance,
      `at most ${set.minDistance}, the smallest Hamming distance the greedy search reaches for ${options.size} permutations of ${tiles} tiles (fewer permutations allow a larger one)`,
    );
  }
  return set;
}

function greedySet(size: number, tiles: number, total: number, seed: number): PermutationSet {
  const candidates = allPermutations(tiles);
  const minDistance = new Int32Array(total).fill(tiles + 1);
  const distanceSum = new Float64Array(total);
  const chosen: number[] = [new Random(seed).int(total)];
  for (;;) {
    const last = chosen[chosen.length - 1];
    minDistance[last] = -1; // never chosen twice
    const lastOffset = last * tiles;
    let best = -1;
    for (let c = 0; c < total; c++) {
      if (minDistance[c] < 0) continue;
      let distance = 0;
      const offset = c * tiles;
      for (let i = 0; i < tiles; i++) if (candidates[offset + i] !== candidates[lastOffset + i]) distance++;
      if (distance < minDistance[c]) minDistance[c] = distance;
      distanceSum[c] += distance;
      if (best < 0 || minDistance[c] > minDistance[best] || (minDistance[c] === minDistance[best] && distanceSum[c] > distanceSum[best]))
        best = c;
    }
    if (chosen.length === size) break;
    chosen.push(best);
  }
  const permutations = chosen.map((index) => Array.from(candidates.subarray(index * tiles, (index + 1) * tiles)));
  let min = tiles;
  let sum = 0;
  for (let a = 0; a < size; a++) {
    for (let b = a + 1; b < size; b++) {
      const distance = hammingDistance(permutations[a], permutations[b]);
      min = Math.min(min, distance);
      sum += distance;
    }
  }
  return { permutations, minDistance: min, meanDistance: sum / ((size * (size - 1)) / 2) };
}
